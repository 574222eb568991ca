'use strict';

// dockersamples/visualizer stand-in (tests only), with the real one's HTTP
// contract on port 8080:
//   CTX_ROOT (default /)           a page drawing the swarm's nodes and tasks
//   CTX_ROOT + apis/<path>         GET /<path> on the Docker socket
//                                  (/var/run/docker.sock), answered as
//                                  {"objects": <Docker's JSON answer>}
// MS: how often the page refreshes, in milliseconds (default 1000).
// Unlike the real one: no websocket events, no DOCKER_HOST/TLS, and a Docker
// socket that does not answer gives a 502 with the reason instead of no answer.

const fs = require('fs');
const http = require('http');
const path = require('path');

const PORT = 8080;
const DOCKER_SOCKET = '/var/run/docker.sock';

let root = process.env.CTX_ROOT || '/';
if (!root.startsWith('/')) root = `/${root}`;
if (!root.endsWith('/')) root = `${root}/`;
const apis = `${root}apis/`;
const refreshMs = Number(process.env.MS) > 0 ? Number(process.env.MS) : 1000;
const page = fs
  .readFileSync(path.join(__dirname, 'index.html'), 'utf8')
  .replaceAll('{{ROOT}}', root)
  .replaceAll('{{MS}}', String(refreshMs));

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// GET apiPath on the Docker socket; done(error, parsed JSON).
function dockerGet(apiPath, done) {
  const request = http.get({ socketPath: DOCKER_SOCKET, path: apiPath }, (response) => {
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk) => {
      body += chunk;
    });
    response.on('end', () => {
      try {
        done(null, JSON.parse(body));
      } catch (error) {
        done(new Error(`Docker answered ${apiPath} with ${response.statusCode} and no JSON`));
      }
    });
  });
  request.on('error', done);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://visualizer');
  if (req.method !== 'GET') {
    send(res, 405, 'text/plain; charset=utf-8', 'only GET\n');
  } else if (url.pathname === root) {
    send(res, 200, 'text/html; charset=utf-8', page);
  } else if (url.pathname.startsWith(apis)) {
    const apiPath = `/${url.pathname.slice(apis.length)}`;
    dockerGet(apiPath, (error, objects) => {
      if (error) {
        console.log(`problem with request ${apiPath}: ${error.message}`);
        send(res, 502, 'application/json', JSON.stringify({ error: error.message }));
        return;
      }
      send(res, 200, 'application/json; charset=utf-8', JSON.stringify({ objects }));
    });
  } else {
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
});

server.listen(PORT, () => {
  console.log(`visualizer stand-in listening on ${PORT}, page at ${root}`);
});

// PID 1 gets no default SIGTERM handler: stop at once on `docker stop`.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
