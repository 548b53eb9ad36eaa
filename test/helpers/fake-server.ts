// A service process with the FakeJudge, for durability tests that kill or signal the whole
// process. Configured from the environment like the real entry point; runs only when
// GAVEL_FAKE_SERVER=1 (node --test runs every file under test/, helpers included).
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { FakeJudge } from './server.js';

if (process.env.GAVEL_FAKE_SERVER === '1') {
  const config = loadConfig();
  const judge = new FakeJudge(Number(process.env.FAKE_POOL_SIZE ?? 2));
  const svc = await startServer(config, { judge });
  const onSignal = () => { void svc.stop().then(() => process.exit(0), () => process.exit(1)); };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
