// The script of the Rocket.Chat incoming integration that receives Alertmanager's webhooks (see
// swarm-stacks/README.md, "Alerts"). Paste it into Administration → Workspace → Integrations →
// the incoming integration → Script (Script Enabled: on). Not deployed by `infra deploy`: Rocket.Chat
// keeps it in its database. test/node/monitoring-stack.test.ts runs it against Alertmanager payloads.
//
// In: Alertmanager's webhook body, version 4 (Alertmanager v0.34.0 notify/webhook/webhook.go:
// status, alerts[] with status, labels, annotations, startsAt; commonLabels, commonAnnotations,
// truncatedAlerts). Out: `{ content: { text } }`, which Rocket.Chat posts as the integration's
// user into the integration's channel; `{ error }` answers 400 (RocketChat/Rocket.Chat
// apps/meteor/app/integrations/server/api/api.ts and lib/ScriptEngine.ts, checked 2026-12-06: the
// script's class is `Script`, its method `process_incoming_request({ request })`, the parsed JSON
// body is `request.content`). Plain JavaScript without imports: it runs in Rocket.Chat's
// isolated-vm sandbox.

const MAX_TEXT = 4000; // Rocket.Chat's Message_MaxAllowedSize defaults to 5000 characters.

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const text = (value) => (typeof value === "string" ? value : "");
// Only the script decides whom to notify: a mention of everyone inside an alert's text is made inert.
const plain = (value) => text(value).replace(/@(here|all|channel)\b/g, "(at)$1");

class Script {
  process_incoming_request({ request }) {
    const body = request.content;
    if (!isObject(body) || !Array.isArray(body.alerts) || (body.status !== "firing" && body.status !== "resolved")) {
      return { error: { success: false, error: "not an Alertmanager webhook (version 4)" } };
    }
    const common = isObject(body.commonLabels) ? body.commonLabels : {};
    const commonAnnotations = isObject(body.commonAnnotations) ? body.commonAnnotations : {};
    const firing = body.alerts.filter((alert) => isObject(alert) && alert.status === "firing");
    const resolved = body.alerts.filter((alert) => isObject(alert) && alert.status === "resolved");
    const severity = plain(common.severity);
    const name = plain(common.alertname) || "alerts";

    const lines = [];
    const head = body.status === "firing" ? `:rotating_light: **FIRING** ${name}` : `:white_check_mark: **RESOLVED** ${name}`;
    // Critical and firing: notify whoever is in the room.
    lines.push(`${body.status === "firing" && severity === "critical" ? "@here " : ""}${head}${severity ? ` (${severity})` : ""}`);
    for (const alert of [...firing, ...resolved]) {
      const labels = isObject(alert.labels) ? alert.labels : {};
      const annotations = isObject(alert.annotations) ? alert.annotations : {};
      const since = text(alert.startsAt).replace(/\.\d+/, "").replace("T", " ").replace(/(Z|[+-]\d\d:\d\d)$/, " UTC");
      const where = [labels.nodename, labels.instance, labels.queue, labels.kind, labels.capability].map(plain).filter((part) => part !== "");
      const state = body.status === "firing" && alert.status === "resolved" ? "resolved: " : "";
      lines.push(`• ${state}${plain(annotations.summary) || plain(labels.alertname)}${where.length > 0 ? ` [${where.join(", ")}]` : ""}${since ? ` since ${since}` : ""}`);
    }
    if (body.status === "firing") {
      const single = firing.length === 1 && isObject(firing[0].annotations) ? firing[0].annotations.description : "";
      lines.push(plain(commonAnnotations.description) || plain(single));
    }
    if (Number(body.truncatedAlerts) > 0) lines.push(`…and ${Number(body.truncatedAlerts)} more`);

    let message = lines.filter((line) => line !== "").join("\n");
    if (message.length > MAX_TEXT) message = `${message.slice(0, MAX_TEXT - 1)}…`;
    return { content: { text: message } };
  }
}
