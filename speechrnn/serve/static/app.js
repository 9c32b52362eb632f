// speechrnn page: microphone -> AudioWorklet (16-bit PCM, 16 kHz) -> WebSocket (Vosk protocol),
// live partials, final text with word times, keyword events; file upload to the OpenAI endpoint.
"use strict";

const $ = (id) => document.getElementById(id);
const live = { ws: null, ctx: null, node: null, media: null, finals: [] };

function apiKey() { return $("api-key").value.trim(); }
function setStatus(el, text, error) { el.textContent = text; el.className = error ? "status error" : "status"; }

function fillWords(tbody, words, withConf) {
  for (const w of words) {
    const tr = document.createElement("tr");
    const cells = [w.word, w.start.toFixed(2), w.end.toFixed(2)];
    if (withConf) cells.push((w.conf ?? 0).toFixed(2));
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    tbody.appendChild(tr);
  }
}

function onMessage(msg) {
  if (msg.error) setStatus($("status"), "server: " + msg.error, true);
  if (msg.keywords) {
    for (const k of msg.keywords) {
      const li = document.createElement("li");
      li.textContent = `${k.keyword}  ${k.start.toFixed(2)}–${k.end.toFixed(2)} s  score ${k.score.toFixed(2)}`;
      $("keywords").appendChild(li);
    }
  }
  if (msg.partial !== undefined) $("partial").textContent = msg.partial;
  const alt = msg.alternatives ? msg.alternatives[0] : null;
  const text = msg.text !== undefined ? msg.text : (alt ? alt.text : undefined);
  if (text !== undefined) {
    if (text) live.finals.push(text);
    $("final").textContent = live.finals.join(" ");
    $("partial").textContent = "";
    fillWords($("words").tBodies[0], msg.result || (alt && alt.result) || [], true);
  }
}

function stopAudio() {
  if (live.node) { live.node.port.onmessage = null; live.node.disconnect(); live.node = null; }
  if (live.media) { live.media.getTracks().forEach((t) => t.stop()); live.media = null; }
  if (live.ctx) { live.ctx.close(); live.ctx = null; }
}

async function start() {
  $("start").disabled = true;
  live.finals = [];
  $("final").textContent = ""; $("partial").textContent = "";
  $("words").tBodies[0].innerHTML = ""; $("keywords").innerHTML = "";
  try {
    live.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    try { live.ctx = new AudioContext({ sampleRate: 16000 }); } catch (e) { live.ctx = new AudioContext(); }
    await live.ctx.audioWorklet.addModule("/static/pcm-worklet.js");
    const rate = live.ctx.sampleRate;
    const source = live.ctx.createMediaStreamSource(live.media);
    live.node = new AudioWorkletNode(live.ctx, "pcm16", { processorOptions: { chunk: Math.round(rate / 10) } });
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const key = apiKey();
    const ws = new WebSocket(scheme + location.host + "/" + (key ? "?api_key=" + encodeURIComponent(key) : ""));
    ws.binaryType = "arraybuffer";
    live.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ config: { sample_rate: rate, words: true, keywords: $("kws").checked } }));
      live.node.port.onmessage = (e) => {
        if (e.data instanceof ArrayBuffer) { if (ws.readyState === WebSocket.OPEN) ws.send(e.data); }
        else if (e.data && e.data.flushed && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ eof: 1 }));
      };
      source.connect(live.node);
      live.node.connect(live.ctx.destination);  // silent: the worklet writes no output
      setStatus($("status"), `streaming at ${rate} Hz…`);
      $("stop").disabled = false;
    };
    ws.onmessage = (e) => onMessage(JSON.parse(e.data));
    ws.onclose = (e) => {
      stopAudio();
      if (!$("status").classList.contains("error")) setStatus($("status"), `stream closed (${e.code} ${e.reason})`, e.code !== 1000);
      $("start").disabled = false; $("stop").disabled = true;
    };
  } catch (err) {
    stopAudio();
    setStatus($("status"), "could not start: " + err, true);
    $("start").disabled = false;
  }
}

function stop() {
  $("stop").disabled = true;
  setStatus($("status"), "finishing…");
  if (live.node) live.node.port.postMessage({ flush: true });  // the worklet answers {flushed}: then eof
  else if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ eof: 1 }));
}

async function upload() {
  const file = $("file").files[0];
  if (!file) { setStatus($("upload-status"), "choose a file first", true); return; }
  const form = new FormData();
  form.append("file", file);
  form.append("model", "speechrnn");
  form.append("response_format", "verbose_json");
  const headers = apiKey() ? { Authorization: "Bearer " + apiKey() } : {};
  setStatus($("upload-status"), "transcribing…");
  $("upload-text").textContent = ""; $("upload-words").tBodies[0].innerHTML = "";
  try {
    const r = await fetch("/v1/audio/transcriptions", { method: "POST", body: form, headers });
    const body = await r.json();
    if (!r.ok) { setStatus($("upload-status"), `${r.status}: ${body.error ? body.error.message : r.statusText}`, true); return; }
    $("upload-text").textContent = body.text;
    fillWords($("upload-words").tBodies[0], body.words || [], false);
    setStatus($("upload-status"), `${body.duration.toFixed(2)} s of audio`);
  } catch (err) {
    setStatus($("upload-status"), "request failed: " + err, true);
  }
}

async function checkReady() {
  try {
    const r = await fetch("/ready");
    const body = await r.json();
    $("ready").textContent = r.ok ? "ready" : body.reason;
    if (body.auth) $("key-label").hidden = false;
    if (!r.ok) setTimeout(checkReady, 1000);
  } catch (err) { $("ready").textContent = "unreachable"; setTimeout(checkReady, 2000); }
}

$("start").onclick = start;
$("stop").onclick = stop;
$("send").onclick = upload;
checkReady();
