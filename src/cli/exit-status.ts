/**
 * A command that ends with a status of its own (`vrf exec` passes on its child's): not an error,
 * nothing is printed; main() returns the code.
 */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit status ${code}`);
    this.name = 'ExitStatus';
  }
}
