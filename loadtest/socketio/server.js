// Baseline (iii) of Parley's load tests (docs/performance.md): a Socket.IO relay on Node with
// the Redis adapter, speaking the events the generator sends (loadtest/src/proto.rs):
// `subscribe` -> `subscribed` (joins the room), `send` -> `ack` to the sender and `item` to the
// room through the adapter (every broadcast is published on Redis). A visitor
// (`?role=visitor&room=R`) is in room R from the start. Nothing is stored.
//   PORT=0 REDIS_URL=redis://127.0.0.1:6379/ ADAPTER_KEY=loadtest node server.js
const { createServer } = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });
  if (process.env.REDIS_URL) {
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub, { key: process.env.ADAPTER_KEY || "loadtest" }));
  }
  const seqs = new Map();
  io.on("connection", (socket) => {
    const query = socket.handshake.query;
    const own = query.role === "visitor" ? String(query.room) : null;
    if (own) socket.join(own);
    const direction = own ? "in" : "out";
    socket.on("subscribe", (f) => {
      const room = (f && f.conversation_id) || own;
      socket.join(room);
      socket.emit("subscribed", { conversation_id: room, last_seq: seqs.get(room) || 0 });
    });
    socket.on("send", (f) => {
      const room = (f && f.conversation_id) || own;
      const seq = (seqs.get(room) || 0) + 1;
      seqs.set(room, seq);
      socket.emit("ack", { conversation_id: room, client_id: f.client_id, seq });
      io.to(room).emit("item", {
        item: { conversation_id: room, seq, client_id: f.client_id, kind: "message", direction, body: f.body },
      });
    });
  });
  http.listen(Number(process.env.PORT || 0), "0.0.0.0", () => {
    console.log(`socketio: listening on ${http.address().port}`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
