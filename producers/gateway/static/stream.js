// The wire format of the gateway (producers/gateway/protocol.py): a frame is one binary message,
// 4-byte big-endian seq, a one-line JSON header with the capture time, then the JPEG.

const encoder = new TextEncoder();

/** The binary message of one frame. */
export function frameMessage(seq, capturedAtMs, jpegBytes) {
  const header = encoder.encode(JSON.stringify({ captured_at_ms: capturedAtMs }) + "\n");
  const message = new Uint8Array(4 + header.length + jpegBytes.byteLength);
  new DataView(message.buffer).setUint32(0, seq, false);
  message.set(header, 4);
  message.set(new Uint8Array(jpegBytes), 4 + header.length);
  return message;
}

/** The WebSocket URL of a session's stream, on the page's own host. */
export function streamUrl(location, path, token) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}?token=${encodeURIComponent(token)}`;
}

/** Grabs frames from the video at the challenge's size and encodes them as JPEG. */
export class FrameGrabber {
  constructor(video, width, height, quality) {
    this.video = video;
    this.quality = quality;
    this.canvas = document.createElement("canvas");
    this.canvas.width = width;
    this.canvas.height = height;
    this.ctx = this.canvas.getContext("2d");
  }

  /** {capturedAtMs, jpeg: ArrayBuffer} of the current video picture, not mirrored. */
  async grab() {
    const capturedAtMs = Date.now();
    this.ctx.drawImage(this.video, 0, 0, this.canvas.width, this.canvas.height);
    const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/jpeg", this.quality));
    if (!blob) throw new Error("the browser could not encode a JPEG");
    return { capturedAtMs, jpeg: await blob.arrayBuffer() };
  }
}
