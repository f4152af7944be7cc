// The live stream (GET /sync/v1/stream) read with fetch() and a stream reader: EventSource cannot send the
// Authorization header. After a drop it reconnects by itself and resumes with Last-Event-ID (the last batch's id),
// so no event is lost or repeated.
import { API, authHeaders, query } from "./api.js";

// Splits the text of an SSE stream into messages ({id, event, data}); `feed` returns the complete ones and keeps
// the incomplete tail for the next chunk. Comments (": keepalive") and blank fields are skipped.
export function sseParser() {
  let buffer = "";
  return {
    feed(chunk) {
      buffer += chunk.replace(/\r\n?/g, "\n");
      const messages = [];
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message = { id: null, event: "message", data: [] };
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") message.data.push(value);
          else if (field === "id") message.id = value;
          else if (field === "event") message.event = value;
        }
        if (message.data.length || message.id !== null) messages.push({ ...message, data: message.data.join("\n") });
      }
      return messages;
    },
  };
}

// Opens the stream with the filters `params`; calls onEvents(list) for every batch and onState("open" | "retrying"
// | "closed", detail) when the connection changes. `lastEventId` resumes after a known position. Returns {close}.
export function openStream({ params = {}, lastEventId = null, onEvents, onState = () => {}, onError = () => {} }) {
  let lastId = lastEventId;
  let closed = false;
  let controller = null;
  let retryMs = 1000;

  async function connect() {
    while (!closed) {
      controller = new AbortController();
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const response = await fetch(`${API}/stream${query(params)}`, { headers, signal: controller.signal });
        if (!response.ok) {
          let body = null;
          try { body = await response.json(); } catch { body = null; }
          onError(body?.message || `实时事件流打开失败（HTTP ${response.status}）`, response.status);
          if (response.status === 401 || response.status === 403 || response.status === 422) { closed = true; break; }
          throw new Error("retry");
        }
        onState("open");
        retryMs = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = sseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const message of parser.feed(value)) {
            if (message.id !== null) lastId = message.id;
            if (message.event === "events" && message.data) onEvents(JSON.parse(message.data));
          }
        }
      } catch (error) {
        if (closed) break;
      }
      if (closed) break;
      // The connection dropped (server restart, network): wait a little, then resume after the last id seen.
      onState("retrying");
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, 10000);
    }
    onState("closed");
  }

  connect();
  return {
    close() {
      closed = true;
      controller?.abort();
    },
    get lastId() { return lastId; },
  };
}
