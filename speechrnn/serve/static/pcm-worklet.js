// AudioWorklet: microphone float samples -> 16-bit little-endian PCM chunks for the WebSocket.
// Posts an ArrayBuffer every `chunk` samples (0.1 s); on {flush: true} posts what is left, then
// {flushed: true}.
class Pcm16Processor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.chunk = (options.processorOptions && options.processorOptions.chunk) || 1600;
    this.buf = new Int16Array(this.chunk);
    this.n = 0;
    this.port.onmessage = (e) => {
      if (e.data && e.data.flush) {
        if (this.n > 0) {
          this.port.postMessage(this.buf.slice(0, this.n).buffer);
          this.n = 0;
        }
        this.port.postMessage({ flushed: true });
      }
    };
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const ch = input[0];  // mono: the first channel
    for (let i = 0; i < ch.length; i++) {
      const s = Math.max(-1, Math.min(1, ch[i]));
      this.buf[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.n === this.chunk) {
        const out = this.buf;
        this.port.postMessage(out.buffer, [out.buffer]);
        this.buf = new Int16Array(this.chunk);
        this.n = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm16", Pcm16Processor);
