/**
 * main.js (worker): the web client's Web Worker, built as worker-HASH.js and started by
 * src/app/worker-client.js as a module worker (CSP worker-src 'self'). It is where work that
 * must stay off the page's thread will run: parsing untrusted files, sealing and opening large
 * images. It answers {type: 'ping'} with {type: 'pong'}, send:* (src/worker/send.js) and
 * regions:* (src/worker/regions.js), and refuses anything else.
 */
import { handleRegionsMessage } from './regions.js';
import { handleSendMessage } from './send.js';

self.addEventListener('message', (event) => {
  const message = event.data;
  if (message?.type === 'ping') {
    self.postMessage({ type: 'pong' });
    return;
  }
  if (handleSendMessage(message)) return; // send:* (the send page: inspect, redact, seal and upload)
  if (handleRegionsMessage(message)) return; // regions:* (the region editor's frame, restoring regions)
  self.postMessage({ type: 'error', error: `unknown message type ${JSON.stringify(message?.type ?? null)}` });
});
