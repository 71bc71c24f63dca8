/** Where command output goes. Commands take this instead of touching process.stdout, so their output can be captured. */
export interface CliOutput {
  /** Results: tables, hashes, JSON. Safe to pipe. */
  out(text: string): void;
  /** Progress, hints and problems, so that stdout stays machine-readable. */
  err(text: string): void;
}

export const processOutput: CliOutput = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};
