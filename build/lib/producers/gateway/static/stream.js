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

/** The WebSocket URL of a session's stream: ``path`` (or a full URL) on the gateway at ``base``. */
export function streamUrl(base, path, token) {
  const url = new URL(path, base);
  url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  url.searchParams.set("token", token);
  return url.href;
}

/** The source rectangle of the video that has the frame's aspect ratio, centred (a crop, never a stretch). */
export function cropRect(videoWidth, videoHeight, width, height) {
  const scale = Math.min(videoWidth / width, videoHeight / height);
  const sw = width * scale, sh = height * scale;
  return { sx: (videoWidth - sw) / 2, sy: (videoHeight - sh) / 2, sw, sh };
}

const LUMA_SIDE = 32; // the brightness is measured on a 32x24 thumbnail: cheap and enough

/** Grabs frames from the video at the challenge's size, encodes them as JPEG and measures their brightness. */
export class FrameGrabber {
  constructor(video, width, height, quality, maxBytes) {
    this.video = video;
    this.quality = quality;
    this.maxBytes = maxBytes;
    this.canvas = Object.assign(document.createElement("canvas"), { width, height });
    this.ctx = this.canvas.getContext("2d");
    this.thumb = Object.assign(document.createElement("canvas"), {
      width: LUMA_SIDE,
      height: Math.max(1, Math.round((LUMA_SIDE * height) / width)),
    });
    this.thumbCtx = this.thumb.getContext("2d", { willReadFrequently: true });
  }

  /** {capturedAtMs, jpeg: ArrayBuffer, luma} of the current video picture, not mirrored. */
  async grab() {
    const capturedAtMs = Date.now();
    const { sx, sy, sw, sh } = cropRect(this.video.videoWidth, this.video.videoHeight, this.canvas.width, this.canvas.height);
    this.ctx.drawImage(this.video, sx, sy, sw, sh, 0, 0, this.canvas.width, this.canvas.height);
    const luma = this.measureLuma();
    // A frame over the gateway's limit would end the stream: encode it again, smaller.
    for (const quality of [this.quality, 0.6, 0.4]) {
      const jpeg = await this.encode(quality);
      if (!this.maxBytes || jpeg.byteLength <= this.maxBytes) return { capturedAtMs, jpeg, luma };
    }
    throw new Error("the camera picture does not fit the gateway's frame limit");
  }

  /** Mean luma (0-255, Rec. 601 weights) of the frame just drawn. */
  measureLuma() {
    const { width, height } = this.thumb;
    this.thumbCtx.drawImage(this.canvas, 0, 0, width, height);
    const pixels = this.thumbCtx.getImageData(0, 0, width, height).data;
    let sum = 0;
    for (let i = 0; i < pixels.length; i += 4) sum += 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
    return Math.round(sum / (pixels.length / 4));
  }

  async encode(quality) {
    const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/jpeg", quality));
    if (!blob) throw new Error("the browser could not encode a JPEG");
    return blob.arrayBuffer();
  }
}
