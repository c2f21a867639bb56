// Text the bot posts but did not write (record text, the model's answer, record titles) made
// inert, so the bot speaks only for itself:
//
// - Mentions notify nobody. Rocket.Chat finds mentions on the server with
//   `(^|\s|>)@(<UTF8_User_Names_Validation>…)` on the raw `msg` (MentionsParser.userMentionRegex;
//   default pattern `[0-9a-zA-Z-_.]+`), and only what it finds there notifies: `all` and `here`
//   everyone, any other name that user (Mentions.ts getUsersByMentions, server.ts
//   `beforeSaveMessage`). A zero-width joiner (U+200D) right after every `@` that does not follow
//   a letter or digit (addresses stay intact) leaves no name the pattern can start with; under a
//   pattern wide enough to take it, the name found starts with U+200D, which is neither `all`,
//   `here` nor anyone's username. It renders as the text it was (`@all`). `\s` in JavaScript
//   does not match U+200D (it does match U+FEFF, which is therefore not used).
// - Links whose host is not Rocket.Chat's own (ROCKETCHAT_URL) or listed in BOT_LINK_HOSTS are
//   shown as text. Rocket.Chat's message parser links `[label](url)`, `<url|label>`,
//   `![alt](url)` (an image it loads), `scheme://host…` and bare host names whose suffix is a
//   public one (tldts `isIcann`), IPv4 addresses and `localhost` (packages/message-parser
//   grammar.pegjs: References, Image, AutolinkedURL; utils.ts autoLink); link previews and the
//   older renderer take URLs from the parsed links or from `\w+://` (parseUrlsInMessage.ts,
//   getMessageUrlRegex.ts). So a foreign reference becomes `label (url)`, and in every foreign
//   URL and host `://` becomes `[:]//` and each `.` becomes `[.]`: no rule above can start a
//   link on it (a host name needs a dot between labels, `[` and `]` end a label, a scheme needs
//   `://`). E-mail addresses and phone numbers are left as they are.
// Checked against RocketChat/Rocket.Chat develop as stored on 2026-12-06:
// apps/meteor/app/mentions/lib/MentionsParser.ts, app/mentions/server/Mentions.ts and server.ts,
// packages/message-parser/src/grammar.pegjs and utils.ts,
// apps/meteor/app/lib/server/functions/parseUrlsInMessage.ts, apps/meteor/lib/getMessageUrlRegex.ts.

/** Hosts whose links stay links: Rocket.Chat's own and BOT_LINK_HOSTS, lower case. */
export type LinkPolicy = { allowedHosts: ReadonlySet<string> };

export const NO_LINKS: LinkPolicy = { allowedHosts: new Set() };

const ZERO_WIDTH_JOINER = "\u200D";
/** Placeholders for links kept as they are while the rest is rewritten (private-use characters). */
const KEEP_OPEN = "\uE000";
const KEEP_CLOSE = "\uE001";

/** `[label](url)` and `![alt](url)`, with an optional "title". */
const MARKDOWN_LINK = /(!?)\[([^\]\n]*)\]\(\s*([^\s)]+)(?:\s+"[^"\n]*")?\s*\)/g;
/** Rocket.Chat's (and Slack's) `<url|label>`. */
const ANGLE_LINK = /<([^\s|<>]+)\|([^<>\n]*)>/g;
/** `scheme://…` up to whitespace, trailing punctuation left out (the parser leaves it out too). */
const SCHEME_URL = /[A-Za-z0-9+.-]{1,32}:\/\/[^\s<>]*[^\s<>.,!?;:'")\]}*~]/g;
/** An e-mail address (left as it is: Rocket.Chat makes it a mailto: link). */
const EMAIL = /(?<![\p{L}\p{N}._%+'-])[\p{L}\p{N}._%+'-]+@(?:[\p{L}\p{N}-]+\.)+[\p{L}\p{N}-]{2,}/gu;
/**
 * A host name: labels and dots, the last label letters only (every public suffix is), or
 * punycode. Not after `@` (or the joiner after it): a mention's name (`@ana.silva`) is not
 * linked by the parser.
 */
const BARE_HOST = /(?<![\p{L}\p{N}_@\u200D-])(?:[\p{L}\p{N}_-]+\.)+(?:\p{L}{2,}|xn--[\p{L}\p{N}-]+)(?![\p{L}\p{N}_-])/gu;
const IPV4 = /(?<!\p{N})\d{1,3}(?:\.\d{1,3}){3}(?!\p{N})/gu;
const LOCALHOST = /\blocalhost\b/gi;
/** An `@` that does not continue a word (an address keeps its own). */
const MENTION_AT = /(?<![\p{L}\p{N}_])@(?=[^\s\u200D])/gu;

const hostOf = (url: string): string | null => {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
};

/** A link text no parser rule can start a link on: `[:]//` and `[.]`. */
const defang = (text: string) => text.replaceAll("://", "[:]//").replaceAll(".", "[.]");

/** The `@` of every mention followed by a zero-width joiner: shown as before, notifies nobody. */
export const withoutMentions = (text: string) => text.replace(MENTION_AT, `@${ZERO_WIDTH_JOINER}`);

/**
 * `text` with its mentions inert and every link to a host outside `policy` shown as plain text.
 * `inLinkLabel`: the text is the label of a link of ours, where the parser makes no link of a
 * bare host name (a label is plain text and emphasis), so "Rocket.Chat #ops" stays as it is.
 */
export function inertText(text: string, policy: LinkPolicy, options: { inLinkLabel?: boolean } = {}): string {
  const kept: string[] = [];
  const keep = (link: string) => `${KEEP_OPEN}${kept.push(link) - 1}${KEEP_CLOSE}`;
  const allowed = (url: string) => {
    const host = hostOf(url);
    return host !== null && policy.allowedHosts.has(host);
  };
  let out = text.replace(/[\uE000\uE001]/g, "");

  out = out.replace(MARKDOWN_LINK, (whole, bang: string, label: string, url: string) => {
    if (allowed(url)) return keep(`${bang}[${withoutMentions(label)}](${url})`);
    const shown = label.trim();
    return shown ? `${shown} (${url})` : url;
  });
  out = out.replace(ANGLE_LINK, (whole, url: string, label: string) => {
    if (allowed(url)) return keep(`<${url}|${withoutMentions(label)}>`);
    const shown = label.trim();
    return shown ? `${shown} (${url})` : url;
  });
  // What is left of a reference can no longer open one: `](` and `<x|` need to be adjacent.
  out = out.replaceAll("](", "] (").replace(/<(?=[^\s<>|]+\|)/g, "< ");

  out = out.replace(SCHEME_URL, (url) => (allowed(url) ? keep(url) : defang(url)));
  if (!options.inLinkLabel) {
    out = out.replace(EMAIL, (address) => keep(address));
    out = out.replace(BARE_HOST, (host) => (policy.allowedHosts.has(host.toLowerCase()) ? keep(host) : defang(host)));
    out = out.replace(IPV4, (address) => (policy.allowedHosts.has(address) ? keep(address) : defang(address)));
    out = out.replace(LOCALHOST, (word) => (policy.allowedHosts.has("localhost") ? word : `${word.slice(0, 5)}${ZERO_WIDTH_JOINER}${word.slice(5)}`));
  }

  out = withoutMentions(out);
  return out.replace(/\uE000(\d+)\uE001/g, (whole, index: string) => kept[Number(index)] ?? "");
}

/** The allowed hosts: Rocket.Chat's own (from its URL) and the listed ones. */
export function linkPolicy(rocketChatUrl: string | undefined, listedHosts: readonly string[] = []): LinkPolicy {
  const hosts = new Set(listedHosts.map((host) => host.toLowerCase()));
  const own = rocketChatUrl ? hostOf(rocketChatUrl) : null;
  if (own) hosts.add(own);
  return { allowedHosts: hosts };
}
