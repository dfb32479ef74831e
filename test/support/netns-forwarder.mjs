// Runs inside a test's own network namespace (`ip netns exec NS node netns-forwarder.mjs
// ADDRESS PORT SOCKET`): accepts TCP on ADDRESS:PORT there and pipes each connection to the
// Unix socket SOCKET, where a server of the test process listens. Unix sockets are named in
// the file system, not in a network namespace, so this joins the two without giving the
// server any TCP address of its own. Prints `listening` once bound, then one line
// `connection from <address>` per connection, so the test can tell where its callers came from.
import { connect, createServer } from 'node:net';

const [address, port, socketPath] = process.argv.slice(2);
if (!address || !port || !socketPath) {
  console.error('usage: netns-forwarder.mjs ADDRESS PORT SOCKET');
  process.exit(2);
}
const server = createServer((client) => {
  console.log(`connection from ${client.remoteAddress}`);
  const upstream = connect(socketPath);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.pipe(upstream).pipe(client);
});
server.on('error', (err) => {
  console.error(`netns-forwarder: ${err.message}`);
  process.exit(1);
});
server.listen(Number(port), address, () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
