// The `gavel` command: `gavel run` (one sandboxed command) and `gavel judge` (a submission).
// Every failure is one line on stderr, `gavel: <what went wrong>` (a usage error adds the
// usage); GAVEL_DEBUG=1 adds the stack trace.
import { JUDGE_USAGE, RUN_USAGE, VERIFY_USAGE } from './usage.js';
import { UsageError } from './args.js';

const USAGE = `usage: gavel run ... -- COMMAND ARGS...   run one command in the sandbox
       gavel judge --language ID FILE --tests DIR ...   judge a file against tests
       gavel judge --problem DIR [--language ID] SOURCE...   judge against a problem package
       gavel verify DIR   check a problem package's submissions against their categories
       gavel COMMAND --help   the options of one command

${RUN_USAGE}

${JUDGE_USAGE}

${VERIFY_USAGE}`;

const COMMANDS: Record<string, { usage: string; load: () => Promise<(argv: string[]) => Promise<number>> }> = {
  run: { usage: RUN_USAGE, load: async () => (await import('./run.js')).runCommand },
  judge: { usage: JUDGE_USAGE, load: async () => (await import('./judge.js')).judgeCommand },
  verify: { usage: VERIFY_USAGE, load: async () => (await import('./verify.js')).verifyCommand },
};

/** Whether argv asks for help before any "--" (after it, flags belong to the sandboxed command). */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The message without a "gavel: " its thrower already put in front. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/^(gavel:\s*)+/, '');
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  let code: number;
  const command = cmd === undefined ? undefined : COMMANDS[cmd];
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      const topic = cmd === 'help' && rest[0] ? COMMANDS[rest[0]] : undefined;
      process.stdout.write((topic?.usage ?? USAGE) + '\n');
      code = cmd === undefined ? 2 : 0;
    } else if (!command) {
      throw new UsageError(`unknown command "${cmd}"`);
    } else if (wantsHelp(rest)) {
      process.stdout.write(command.usage + '\n');
      code = 0;
    } else {
      code = await (await command.load())(rest);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`gavel: ${oneLine(e)}\n${command?.usage ?? USAGE}\n`);
      code = 2;
    } else {
      process.stderr.write(`gavel: ${oneLine(e)}\n`);
      if (process.env.GAVEL_DEBUG === '1' && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
      code = 1;
    }
  }
  process.exitCode = code;
}
