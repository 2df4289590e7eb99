// The `cvw` executable: runs the command and exits with its code.
import { main } from "./cli.ts";

const code = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  isTty: process.stdout.isTTY === true,
});
// Let stdout drain before leaving: `cvw env > file` and `$(cvw get …)` must get every byte.
process.exitCode = code;
