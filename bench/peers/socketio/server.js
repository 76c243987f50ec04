// A Socket.IO 4.8 server shaped like Frappe's realtime server (frappe/realtime/index.js and
// handlers/frappe_handlers.js), for livedoc-bench's side-by-side runs: one Node process, dynamic
// namespaces "/<site>", events taken from the Redis pub/sub channel `events` as JSON
// {event, message, room, namespace} and emitted to that namespace's room (no room: every
// namespace), Frappe's room names (all, website, user:<user>, doctype:<dt>, doc:<dt>/<dn>).
//
// Differences from Frappe, all in Frappe's favour for a benchmark: no HTTP call back to the
// Python server to check permissions (Frappe asks it on connect and on each subscribe); the
// optional token check is a string comparison (BENCH_TOKEN); a subscribe's acknowledgement is
// answered {ok: true} when the client asks for one (Frappe's client never does), so the bench
// knows when the room is joined.
//
// Environment: PORT (9000), HOST (127.0.0.1), REDIS_URL (redis://127.0.0.1:6379), BENCH_TOKEN
// (unset: no auth), REDIS_ADAPTER=1 to use @socket.io/redis-adapter (Frappe does not).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createClient } = require("redis");

const port = Number(process.env.PORT || 9000);
const host = process.env.HOST || "127.0.0.1";
const redisURL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const token = process.env.BENCH_TOKEN || "";

async function main() {
	const httpServer = http.createServer((req, res) => {
		if (req.url === "/health") {
			res.writeHead(200, { "content-type": "text/plain" });
			res.end("ok\n");
			return;
		}
		res.writeHead(404);
		res.end();
	});
	const io = new Server(httpServer, {
		// As Frappe: CORS for the site's origin, empty child namespaces cleaned up.
		cors: { origin: true, credentials: true },
		cleanupEmptyChildNamespaces: true,
	});
	if (process.env.REDIS_ADAPTER === "1") {
		const { createAdapter } = require("@socket.io/redis-adapter");
		const pub = createClient({ url: redisURL });
		const sub = pub.duplicate();
		await Promise.all([pub.connect(), sub.connect()]);
		io.adapter(createAdapter(pub, sub));
	}

	const realtime = io.of(/^\/.*$/);
	realtime.use((socket, next) => {
		if (!token) {
			socket.user = "Administrator";
			return next();
		}
		const auth = socket.handshake.auth || {};
		const header = socket.handshake.headers.authorization || "";
		if (auth.token === token || header === "token " + token) {
			socket.user = "Administrator";
			return next();
		}
		next(new Error("Unauthorized"));
	});
	realtime.on("connection", (socket) => {
		// Frappe: user:<user> and website for everyone, all for System Users.
		socket.join("user:" + socket.user);
		socket.join("website");
		socket.join("all");
		const ack = (args) => {
			const last = args[args.length - 1];
			if (typeof last === "function") last({ ok: true });
		};
		socket.on("doctype_subscribe", (doctype, ...rest) => {
			socket.join("doctype:" + doctype);
			ack(rest);
		});
		socket.on("doctype_unsubscribe", (doctype, ...rest) => {
			socket.leave("doctype:" + doctype);
			ack(rest);
		});
		socket.on("doc_subscribe", (doctype, docname, ...rest) => {
			socket.join("doc:" + doctype + "/" + docname);
			ack(rest);
		});
		socket.on("doc_unsubscribe", (doctype, docname, ...rest) => {
			socket.leave("doc:" + doctype + "/" + docname);
			ack(rest);
		});
		socket.on("task_subscribe", (id, ...rest) => {
			socket.join("task_progress:" + id);
			ack(rest);
		});
		socket.on("ping", () => socket.emit("pong"));
	});

	// Frappe's realtime/index.js: the `events` channel.
	const subscriber = createClient({ url: redisURL });
	subscriber.on("error", (err) => console.error("redis:", err.message));
	await subscriber.connect();
	await subscriber.subscribe("events", (raw) => {
		let message;
		try {
			message = JSON.parse(raw);
		} catch (e) {
			return;
		}
		const namespace = "/" + (message.namespace || "");
		if (message.room) {
			io.of(namespace).to(message.room).emit(message.event, message.message);
		} else {
			realtime.emit(message.event, message.message);
		}
	});

	httpServer.listen(port, host, () => console.log(`socket.io ${require("socket.io/package.json").version} on ${host}:${port}, redis ${redisURL}`));
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
