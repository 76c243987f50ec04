// A reference socket.io 4.8 server for the Go client's conformance test.
// It listens on 127.0.0.1 on a free port, prints the port on stdout, and
// exits when its stdin closes. Run with NODE_PATH=tests/js/node_modules.
//
// Namespaces "/" and "/site"; auth {"token":"bad"} is refused with
// CONNECT_ERROR "unauthorized: bad token". Connection-state recovery is on.
// Events:
//   echo       acks its args back, or emits "echo" with them
//   auth       acks [the handshake auth, socket.recovered]
//   broadcast  emits "bcast" with its args to the namespace, then acks true
//   ask        emits "question" with its args asking for an ack; the answer
//              comes back as an "answer" event
// Every disconnection is broadcast to the namespace as "gone" <id> <reason>.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: 200,
  pingTimeout: 2000,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
});

function popAck(args) {
  return typeof args[args.length - 1] === "function" ? args.pop() : null;
}

for (const name of ["/", "/site"]) {
  const nsp = io.of(name);
  nsp.use((socket, next) => {
    if ((socket.handshake.auth || {}).token === "bad") {
      const err = new Error("unauthorized: bad token");
      err.data = { code: 401 };
      return next(err);
    }
    next();
  });
  nsp.on("connection", (socket) => {
    socket.on("echo", (...args) => {
      const ack = popAck(args);
      if (ack) ack(...args);
      else socket.emit("echo", ...args);
    });
    socket.on("auth", (...args) => {
      const ack = popAck(args);
      if (ack) ack(socket.handshake.auth, socket.recovered);
    });
    socket.on("broadcast", (...args) => {
      const ack = popAck(args);
      nsp.emit("bcast", ...args);
      if (ack) ack(true);
    });
    socket.on("ask", (...args) => {
      popAck(args);
      socket.emit("question", ...args, (...answer) => socket.emit("answer", ...answer));
    });
    socket.on("disconnect", (reason) => nsp.emit("gone", socket.id, reason));
  });
}

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(httpServer.address().port + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
