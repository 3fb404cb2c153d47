// The agent socket (/ws/agent), authenticated by the session cookie: reconnects with backoff
// for as long as the app runs, and tells the app when it is up (`hello`) or down.

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10000;

export class AgentSocket {
  constructor({ onFrame, onUp, onDown }) {
    this.onFrame = onFrame;
    this.onUp = onUp;
    this.onDown = onDown;
    this.ws = null;
    this.up = false;
    this.retry = RETRY_MIN_MS;
    this.stopped = false;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
    this.ws = null;
  }

  /// Sends if up; answers whether it went (the caller keeps what must be resent).
  send(frame) {
    if (!this.up || !this.ws) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/agent`);
    this.ws = ws;
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        this.up = true;
        this.retry = RETRY_MIN_MS;
        this.onUp(frame);
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.up = false;
      this.ws = null;
      if (this.stopped) return;
      this.onDown(event.reason);
      this.timer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, RETRY_MAX_MS);
    };
  }
}
