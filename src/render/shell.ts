/**
 * argv → one POSIX shell word list, for the places where a person or ifupdown reads commands as text
 * (expanded stanzas, `vmrouter plan`). vmrouter itself never runs a shell.
 */
const PLAIN = /^[A-Za-z0-9_\/.:=@%+,-]+$/;

export function shellWord(word: string): string {
  // a quote inside becomes '"'"' rather than '\'': ifupdown2's parser drops backslashes from option values
  return PLAIN.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

export function shellLine(argv: string[]): string {
  return argv.map(shellWord).join(' ');
}
