// The baseline of `npm run bench:http`: a bare Fastify route answering what /v1/run
// answers, in a process of its own like the service. Prints its URL on stdout.
import Fastify from 'fastify';

const app = Fastify();
app.post('/v1/run', async () => ({ status: 'OK', exitCode: 0, signal: null, cpuTimeMs: 0, wallTimeMs: 0, memoryBytes: 0, stdout: '', stderr: '' }));
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(url + '\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
