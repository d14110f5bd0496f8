// `irqlab serve` for profiling: the CLI's serve command without bin.mjs, which
// would register tsx a second time, ahead of bench/profile-hook.mjs.
//   node --cpu-prof --import tsx --import ./bench/profile-hook.mjs src/cli/profile-serve.ts --socket PATH
import { main } from './main.ts';

process.exitCode = await main(['serve', ...process.argv.slice(2)]);
