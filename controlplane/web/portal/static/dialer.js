// The browser dialer: one of the user's web-phone SIP accounts registers over WSS to Kamailio (SIP.js from npm,
// served by this app), then calls with keypad, DTMF (SIP INFO), hold, mute and hang-up. The microphone is asked
// for only when a call starts. `window.cpPhone` exposes the state for the tests.
import { SimpleUser } from "/assets/sip.js/platform/web/simple-user/index.js";

const el = (id) => document.getElementById(id);
const state = { accounts: [], account: null, user: null, registered: false, call: "idle", since: null, error: "" };
window.cpPhone = state;

function show() {
  el("cp-phone-status").textContent = state.error || (state.registered ? "Registered" : "Not registered");
  el("cp-phone-status").className = "badge " + (state.registered ? "text-bg-success" : "text-bg-secondary");
  el("cp-phone-callstate").textContent = state.call === "idle" ? "" : state.call;
  el("cp-phone-cid").textContent = state.account ? `Caller ID: ${state.account.caller_id}` : "";
  el("cp-phone-call").disabled = !state.registered || state.call !== "idle";
  for (const id of ["cp-phone-hangup", "cp-phone-hold", "cp-phone-mute"]) el(id).disabled = state.call === "idle";
}

setInterval(() => {
  el("cp-phone-timer").textContent = state.since ? new Date(Date.now() - state.since).toISOString().substring(14, 19) : "";
}, 500);

async function use(account) {
  if (state.user) { try { await state.user.unregister(); await state.user.disconnect(); } catch (e) { /* gone */ } }
  state.account = account; state.registered = false; state.error = ""; show();
  if (!account) return;
  const user = new SimpleUser(account.ws_url, {
    aor: `sip:${account.username}@${account.realm}`,
    media: { constraints: { audio: true, video: false }, remote: { audio: el("cp-phone-audio") } },
    userAgentOptions: { authorizationUsername: account.username, authorizationHa1: account.ha1,
                        displayName: account.caller_id, logLevel: "warn" },
    delegate: {
      onRegistered: () => { state.registered = true; show(); },
      onUnregistered: () => { state.registered = false; show(); },
      onServerDisconnect: () => { state.registered = false; state.error = "Disconnected"; show(); },
      onCallCreated: () => { state.call = "calling"; show(); },
      onCallAnswered: () => { state.call = "in call"; state.since = Date.now(); show(); },
      onCallHangup: () => { state.call = "idle"; state.since = null; show(); },
      onCallHold: (held) => { state.call = held ? "on hold" : "in call"; show(); },
    },
  });
  state.user = user;
  try { await user.connect(); await user.register(); } catch (e) { state.error = `Cannot register: ${e.message}`; show(); }
}

async function call() {
  const number = el("cp-phone-number").value.trim();
  if (!number || !state.user) return;
  try { await state.user.call(`sip:${number}@${state.account.realm}`); }
  catch (e) { state.error = `Call failed: ${e.message}`; state.call = "idle"; show(); }
}

state.stats = async () => {  // what the remote side sent us, for the tests
  const pc = state.user && state.user.session && state.user.session.sessionDescriptionHandler &&
             state.user.session.sessionDescriptionHandler.peerConnection;
  if (!pc) return null;
  const out = { packetsReceived: 0, packetsSent: 0 };
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") out.packetsReceived += r.packetsReceived;
    if (r.type === "outbound-rtp" && r.kind === "audio") out.packetsSent += r.packetsSent;
  });
  return out;
};

document.addEventListener("DOMContentLoaded", async () => {
  const select = el("cp-phone-account");
  const reply = await fetch(select.dataset.accounts, { credentials: "same-origin" });
  state.accounts = reply.ok ? (await reply.json()).items : [];
  select.replaceChildren(...state.accounts.map((a) => new Option(`${a.username} (${a.caller_id})`, a.id)));
  el("cp-phone").hidden = state.accounts.length === 0;
  select.addEventListener("change", () => use(state.accounts.find((a) => String(a.id) === select.value)));
  el("cp-phone-call").addEventListener("click", call);
  el("cp-phone-hangup").addEventListener("click", () => state.user && state.user.hangup().catch(() => {}));
  el("cp-phone-hold").addEventListener("click", () => state.user &&
    (state.user.isHeld() ? state.user.unhold() : state.user.hold()).catch(() => {}));
  el("cp-phone-mute").addEventListener("click", () => {
    if (!state.user) return;
    if (state.user.isMuted()) { state.user.unmute(); } else { state.user.mute(); }
    el("cp-phone-mute").classList.toggle("active", state.user.isMuted());
  });
  document.querySelectorAll("[data-cp-key]").forEach((b) => b.addEventListener("click", () => {
    const key = b.dataset.cpKey;
    if (state.call === "in call" && state.user) state.user.sendDTMF(key).catch(() => {});
    else el("cp-phone-number").value += key;
  }));
  if (state.accounts.length) await use(state.accounts[0]);
  show();
});
