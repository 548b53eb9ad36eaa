// The `gavel` command: `gavel run` (one sandboxed command) and `gavel judge` (a submission).
import { runCommand } from './run.js';
import { JUDGE_USAGE, RUN_USAGE, VERIFY_USAGE } from './usage.js';
import { UsageError } from './args.js';

const USAGE = `usage: gavel run ... -- COMMAND ARGS...   run one command in the sandbox
       gavel judge --language ID FILE --tests DIR ...   judge a file against tests
       gavel judge --problem DIR [--language ID] SOURCE...   judge against a problem package
       gavel verify DIR   check a problem package's submissions against their categories

${RUN_USAGE}

${JUDGE_USAGE}

${VERIFY_USAGE}`;

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  let code: number;
  try {
    if (cmd === 'run') code = await runCommand(rest);
    else if (cmd === 'judge') code = await (await import('./judge.js')).judgeCommand(rest);
    else if (cmd === 'verify') code = await (await import('./verify.js')).verifyCommand(rest);
    else if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(USAGE + '\n');
      code = cmd === undefined ? 2 : 0;
    } else throw new UsageError(`unknown command "${cmd}"`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`gavel: ${e.message}\n${USAGE}\n`);
      code = 2;
    } else {
      process.stderr.write(`gavel: ${(e as Error).stack ?? e}\n`);
      code = 1;
    }
  }
  process.exitCode = code;
}
