/** A bad flag, file or field: the message names the field and how to fix it. Exit code 2. */
export class ConfigError extends Error {
  readonly code = 'VXR_CONFIG';

  constructor(
    readonly field: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`${field}: ${problem}`, options);
    this.name = 'ConfigError';
  }
}
