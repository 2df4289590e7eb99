// The `cvw` executable: runs the command and exits with its code.
import { main } from "./cli.ts";

// `npm run cvw` (in the repository) starts us in the package folder; work where it was typed.
if (process.env.npm_lifecycle_event === "cvw" && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

const code = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  isTty: process.stdout.isTTY === true,
});
// Let stdout drain before leaving: `cvw env > file` and `$(cvw get …)` must get every byte.
process.exitCode = code;
