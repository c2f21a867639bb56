// Inline SVG charts for the status page: no script, no external resource (the page's CSP allows
// neither). Each bar and point carries a <title> so a hover or a long press tells its value.
import { html } from "hono/html";

export type BarSeries = { name: string; color: string; values: number[] };
export type LineSeries = { name: string; color: string; points: { x: number; y: number }[] };

const WIDTH = 720;
const HEIGHT = 200;
const LEFT = 60;
const BOTTOM = 22;
const TOP = 8;

const niceMax = (value: number) => {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
};

const legend = (series: { name: string; color: string }[]) =>
  html`<p class="legend">${series.map((entry) => html`<span><i style="background:${entry.color}"></i>${entry.name}</span> `)}</p>`;

/** Stacked bars, one per category (an hour, a day), `labels` under every `labelEvery`th bar. */
export function stackedBars(id: string, title: string, categories: string[], series: BarSeries[], options: { labelEvery?: number } = {}) {
  const totals = categories.map((_, index) => series.reduce((sum, entry) => sum + (entry.values[index] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotWidth = WIDTH - LEFT - 4;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = plotWidth / Math.max(1, categories.length);
  const barWidth = Math.max(1, slot * 0.8);
  const labelEvery = options.labelEvery ?? 1;
  const bars = categories.map((category, index) => {
    let y = TOP + plotHeight;
    const x = LEFT + index * slot + (slot - barWidth) / 2;
    const segments = series.map((entry) => {
      const value = entry.values[index] ?? 0;
      if (value <= 0) return "";
      const height = (value / max) * plotHeight;
      y -= height;
      return html`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}" fill="${entry.color}"><title>${category} · ${entry.name}: ${value}</title></rect>`;
    });
    const label = index % labelEvery === 0 ? html`<text x="${(LEFT + index * slot + slot / 2).toFixed(1)}" y="${HEIGHT - 6}" text-anchor="middle">${category}</text>` : "";
    return html`${segments}${label}`;
  });
  return html`<figure id="${id}">
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${title}" class="chart">
      <line x1="${LEFT}" y1="${TOP + plotHeight}" x2="${WIDTH - 4}" y2="${TOP + plotHeight}" class="axis" />
      <text x="${LEFT - 6}" y="${TOP + 10}" text-anchor="end">${max}</text>
      <text x="${LEFT - 6}" y="${TOP + plotHeight}" text-anchor="end">0</text>
      ${bars}
    </svg>
    ${legend(series)}
  </figure>`;
}

/** Lines over time (x in ms), y from 0. */
export function lineChart(id: string, title: string, from: number, to: number, series: LineSeries[], formatY: (value: number) => string, formatX: (ms: number) => string) {
  const max = niceMax(Math.max(0, ...series.flatMap((entry) => entry.points.map((point) => point.y))));
  const plotWidth = WIDTH - LEFT - 4;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const xOf = (ms: number) => LEFT + ((ms - from) / Math.max(1, to - from)) * plotWidth;
  const yOf = (value: number) => TOP + plotHeight - (value / max) * plotHeight;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((share) => from + share * (to - from));
  return html`<figure id="${id}">
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${title}" class="chart">
      <line x1="${LEFT}" y1="${TOP + plotHeight}" x2="${WIDTH - 4}" y2="${TOP + plotHeight}" class="axis" />
      <text x="${LEFT - 6}" y="${TOP + 10}" text-anchor="end">${formatY(max)}</text>
      <text x="${LEFT - 6}" y="${TOP + plotHeight}" text-anchor="end">0</text>
      ${ticks.map((ms, index) => html`<text x="${xOf(ms).toFixed(1)}" y="${HEIGHT - 6}" text-anchor="${index === 0 ? "start" : index === ticks.length - 1 ? "end" : "middle"}">${formatX(ms)}</text>`)}
      ${series.map((entry) =>
        entry.points.length === 0
          ? ""
          : html`<polyline fill="none" stroke="${entry.color}" stroke-width="2" points="${entry.points.map((point) => `${xOf(point.x).toFixed(1)},${yOf(point.y).toFixed(1)}`).join(" ")}" />
              ${entry.points.map((point) => html`<circle cx="${xOf(point.x).toFixed(1)}" cy="${yOf(point.y).toFixed(1)}" r="1.5" fill="${entry.color}"><title>${formatX(point.x)} · ${entry.name}: ${formatY(point.y)}</title></circle>`)}`,
      )}
    </svg>
    ${legend(series)}
  </figure>`;
}
