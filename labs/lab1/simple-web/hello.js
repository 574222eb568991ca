'use strict';

// simple-web: answers every request with a greeting, the caller's address and
// the container's hostname. In a swarm each task has its own hostname (the
// container ID), so repeated requests show which replica answered.

const http = require('http');
const os = require('os');

const PORT = 8000;

// Behind nginx-proxy the TCP peer is the proxy; the original client, when the
// proxy passes it on, is the first entry of X-Forwarded-For.
function callerAddress(req) {
  const forwarded = req.headers['x-forwarded-for'];
  if (forwarded) {
    return forwarded.split(',')[0].trim();
  }
  // IPv4 peers of a dual-stack socket look like ::ffff:10.0.1.5.
  return String(req.socket.remoteAddress).replace(/^::ffff:/, '');
}

const server = http.createServer((req, res) => {
  const caller = callerAddress(req);
  const body = [
    'Hello, Docker Swarm! (simple-web)',
    `client:   ${caller}`,
    `hostname: ${os.hostname()}`,
    '',
  ].join('\n');

  console.log(`${new Date().toISOString()} ${req.method} ${req.url} from ${caller}`);
  res.writeHead(200, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
});

server.listen(PORT, () => {
  console.log(`simple-web listening on port ${PORT} (hostname ${os.hostname()})`);
});

// As PID 1 in a container, node gets no default handler for SIGTERM, so
// `docker stop` and rolling updates would wait the full grace period before
// SIGKILL. Stop accepting connections and exit promptly instead.
function shutdown(signal) {
  console.log(`${signal} received, shutting down`);
  server.close(() => process.exit(0));
  // Idle keep-alive connections can hold close() open; do not wait for them.
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
