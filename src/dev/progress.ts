/**
 * Step-by-step progress for the demo: a spinner on a terminal, plain lines elsewhere (CI logs).
 *
 * @module
 */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Progress {
  /** Runs `fn` as the next numbered step and reports how long it took. */
  step<T>(label: string, fn: (note: (text: string) => void) => Promise<T>): Promise<T>;
  info(text: string): void;
}

export function createProgress(total: number, out: NodeJS.WriteStream = process.stderr): Progress {
  let n = 0;
  const tty = out.isTTY === true;
  return {
    async step(label, fn) {
      n += 1;
      const prefix = `[${n}/${total}] ${label}`;
      const started = performance.now();
      let detail = '';
      let frame = 0;
      const note = (text: string) => {
        detail = text;
        if (!tty) out.write(`      ${text}\n`);
      };
      if (!tty) out.write(`${prefix} …\n`);
      const timer = tty
        ? setInterval(() => {
            const secs = ((performance.now() - started) / 1000).toFixed(0);
            out.write(
              `\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${prefix} ${detail ? `(${detail}) ` : ''}${secs}s`,
            );
          }, 100)
        : undefined;
      try {
        const result = await fn(note);
        const secs = ((performance.now() - started) / 1000).toFixed(1);
        out.write(`${tty ? '\r\x1b[2K' : ''}✔ ${prefix} (${secs} s)\n`);
        return result;
      } catch (err) {
        out.write(
          `${tty ? '\r\x1b[2K' : ''}✘ ${prefix}: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        throw err;
      } finally {
        if (timer) clearInterval(timer);
      }
    },
    info(text) {
      out.write(`${text}\n`);
    },
  };
}
