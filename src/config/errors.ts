/** Where a value came from, so every error can name file, line, section and key. */
export interface Origin {
  file: string;
  /** 1-based line, when known */
  line?: number;
  /** "[network public]" in vmrouter.conf, "iface eth0.222 inet" in an interfaces file */
  section: string;
  /** the key as the user wrote it: "gateway", "vmrouter-gateway", "ip-gateway" */
  key?: string;
}

export function formatOrigin(o: Origin): string {
  const where = o.line ? `${o.file}:${o.line}` : o.file;
  return `${where}: ${o.section}${o.key ? ` ${o.key}` : ''}`;
}

/** One problem with the input, printed as `file:line: [section] key: message`. */
export class InputError {
  constructor(
    readonly origin: Origin,
    readonly message: string,
  ) {}
  toString(): string {
    return `${formatOrigin(this.origin)}: ${this.message}`;
  }
}

/** Thrown when input is invalid; carries every problem found, not just the first. Exit code 2. */
export class InvalidInput extends Error {
  readonly exitCode = 2;
  constructor(readonly problems: InputError[]) {
    super(problems.map(String).join('\n'));
    this.name = 'InvalidInput';
  }
}

/** A usage or input error that is not tied to a config file (bad CLI flag, bad environment). */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
