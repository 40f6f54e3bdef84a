/** Just enough roff (man(7)) for the generated man pages; `man --warnings` (lintian) must stay quiet. */

/** Text for roff: backslashes, hyphens that are minus signs (options, paths), leading dots/quotes. */
export function esc(text: string, code = true): string {
  let body = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  if (code) body = body.replace(/`([^`]+)`/g, '\\fB$1\\fR'); // Markdown-style `code` in help texts
  body = body
    .replace(/'/g, "\\(aq")
    .replace(/"/g, '\\(dq')
    .replace(/[^\x00-\x7f]/g, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`); // groff reads ASCII
  return body.replace(/^([.'])/gm, '\\&$1');
}

/** Command-line syntax: names bold, <placeholders> italic. */
export function syntax(text: string): string {
  return esc(text).replace(/<([^>]+)>/g, '\\fI$1\\fR');
}

/** A .TP entry: tag line and paragraph. */
export function tp(tag: string, body: string): string {
  return `.TP\n${tag}\n${body}\n`;
}

export function sh(title: string): string {
  return `.SH ${title.toUpperCase()}\n`;
}

export function ss(title: string): string {
  return `.SS "${esc(title)}"\n`;
}

/** Literal lines (an example file): no filling, every line escaped. */
export function literal(text: string): string {
  const lines = text.replace(/\n+$/, '').split('\n').map((l) => (l === '' ? '' : esc(l, false)));
  return `.PP\n.nf\n.RS 4\n${lines.join('\n')}\n.RE\n.fi\n`;
}

/** The .TH line; the date comes from SOURCE_DATE_EPOCH (debian/rules sets it) for reproducible builds. */
export function th(name: string, section: number, version: string, manual: string): string {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  const date = new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString().slice(0, 10);
  // .nh .ad l: no hyphenation and ragged right, so option names and paths stay whole
  return `.TH ${name.toUpperCase()} ${section} "${date}" "vmrouter ${version}" "${manual}"\n.nh\n.ad l\n`;
}
