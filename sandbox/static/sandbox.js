// Baton sandbox page: polls /api/state and renders the phone and the Slack workspace.
// Vanilla JS, no build step: every action is a POST to the sandbox's /api, which
// turns it into a signed request to Baton's real routes.
"use strict";

(() => {
  const POLL_MS = 700;
  const BOT = "UBATONBOT";
  const EMOJI = {
    speech_balloon: "💬", alarm_clock: "⏰", rotating_light: "🚨", white_check_mark: "✅",
    x: "❌", warning: "⚠️", paperclip: "📎", no_entry: "⛔", arrow_right: "➡️", handshake: "🤝",
    arrows_counterclockwise: "🔄", crescent_moon: "🌙", wastebasket: "🗑️", outbox_tray: "📤",
    inbox_tray: "📥", bust_in_silhouette: "👤", busts_in_silhouette: "👥", telephone_receiver: "📞",
    bell: "🔔", hourglass: "⏳", heavy_check_mark: "✔️", wave: "👋", memo: "📝", pushpin: "📌",
    calendar: "📅", link: "🔗", tada: "🎉", eyes: "👀", "+1": "👍", information_source: "ℹ️",
  };

  const ui = {
    me: "U0ALEX",
    view: { kind: "channel", id: null },
    thread: null, // {channel, ts}
    phone: null, // E.164 of the phone shown
    follow: false, // follow the replay: its actor, channel and thread
    state: null,
    keys: {},
    seenDm: {},
    seenChannels: {}, // channel id → ts of its newest top-level message the visitor has seen
    modalKey: null,
    pending: false,
  };
  const $ = (id) => document.getElementById(id);

  // -- text ---------------------------------------------------------------------------------

  function esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]
    ));
  }
  const unescapeSlack = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const emoji = (s) => s.replace(/:([a-z0-9_+-]*[a-z][a-z0-9_+-]*):/g, (m, name) => EMOJI[name] || m);

  function userName(id) {
    const user = ui.state && ui.state.slack.users[id];
    return user ? user.name : id;
  }
  function channelName(id) {
    const found = ui.state && ui.state.slack.channels.find((c) => c.id === id);
    return found ? found.name : id;
  }

  // One <…> token of Slack markup: a mention, a channel, a special mention or a link.
  function token(inner) {
    const [head, label] = [inner.split("|")[0], inner.split("|").slice(1).join("|")];
    if (head.startsWith("@")) {
      const id = head.slice(1);
      return `<span class="mention${id === ui.me ? " me" : ""}">@${esc(label || userName(id))}</span>`;
    }
    if (head.startsWith("#")) return `<span class="mention">#${esc(label || channelName(head.slice(1)))}</span>`;
    if (head.startsWith("!date^")) return `<time>${esc(slackDate(head, label))}</time>`;
    if (head.startsWith("!")) return `<span class="mention">@${esc(label || head.slice(1).split("^")[0])}</span>`;
    const url = unescapeSlack(head);
    const text = label ? unescapeSlack(label) : url;
    // Links to a thread open it here rather than in (fake) Slack.
    const thread = url.match(/\/archives\/([A-Z0-9]+)\/p(\d+)(\d{6})$/);
    if (thread) return `<a href="#" data-thread="${esc(`${thread[1]}|${thread[2]}.${thread[3]}`)}">${esc(text)}</a>`;
    if (!/^(https?:|mailto:)/i.test(url)) return esc(text);
    return `<a href="${esc(url)}" target="_blank" rel="noopener">${esc(text)}</a>`;
  }

  // Slack's <!date^unix^format|fallback>: the moment in the reader's own time zone, as Slack shows it.
  function slackDate(head, fallback) {
    const [, unix, format] = head.split("^");
    const when = new Date(Number(unix) * 1000);
    if (!format || Number.isNaN(when.getTime())) return unescapeSlack(fallback);
    const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
    const days = Math.round((midnight(when) - midnight(new Date())) / 86400000);
    const short = when.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    const pretty = { "-1": "yesterday", 0: "today", 1: "tomorrow" }[days] || short;
    const time = when.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
    return format
      .replaceAll("{date_short_pretty}", pretty)
      .replaceAll("{date_short}", short)
      .replaceAll("{time}", time);
  }

  function formatLine(line) {
    let s = esc(unescapeSlack(line));
    s = s.replace(/(^|[^\w*])\*(?!\s)([^*\n]+?)\*(?!\w)/g, "$1<b>$2</b>");
    s = s.replace(/(^|[^\w_])_(?!\s)([^_\n]+?)_(?!\w)/g, "$1<i>$2</i>");
    s = s.replace(/(^|[^\w~])~(?!\s)([^~\n]+?)~(?!\w)/g, "$1<s>$2</s>");
    return emoji(s);
  }

  // Slack mrkdwn to HTML: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes, <links>.
  function mrkdwn(text) {
    const slots = [];
    const keep = (html) => `\u0000${slots.push(html) - 1}\u0000`;
    let s = String(text ?? "");
    s = s.replace(/```([\s\S]*?)```/g, (_, code) => keep(`<pre>${esc(unescapeSlack(code.replace(/^\n/, "")))}</pre>`));
    s = s.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${esc(unescapeSlack(code))}</code>`));
    s = s.replace(/<([^<>\n]+)>/g, (_, inner) => keep(token(inner)));
    const lines = s.split("\n").map((line) => {
      const quote = line.startsWith(">");
      const html = formatLine(quote ? line.slice(1) : line);
      return { quote, html: quote ? `<blockquote>${html || "&nbsp;"}</blockquote>` : html };
    });
    let out = "";
    lines.forEach((line, i) => {
      if (i > 0 && !line.quote && !lines[i - 1].quote) out += "\n";
      out += line.html;
    });
    return out.replace(/\u0000(\d+)\u0000/g, (_, i) => slots[Number(i)]);
  }

  function textObject(t) {
    if (!t) return "";
    return t.type === "mrkdwn" ? mrkdwn(t.text) : emoji(esc(t.text));
  }

  const clock = (ts) => new Date(parseFloat(ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const byTs = (a, b) => parseFloat(a.ts) - parseFloat(b.ts);

  // -- Block Kit ------------------------------------------------------------------------------

  function elementHTML(element, block, ctx) {
    const act = esc(JSON.stringify({ ...ctx, element, block_id: block.block_id || "" }));
    if (element.type === "button") {
      return `<button type="button" class="btn ${esc(element.style || "")}" data-act="${act}">${textObject(element.text)}</button>`;
    }
    if (element.type === "overflow" || element.type === "static_select") {
      const first = element.type === "overflow" ? "⋯" : esc((element.placeholder || {}).text || "Choose…");
      const options = (element.options || [])
        .map((o, i) => `<option value="${i}">${esc(o.text.text)}</option>`).join("");
      return `<select class="overflow" aria-label="More actions" data-act="${act}"><option value="">${first}</option>${options}</select>`;
    }
    return "";
  }

  function blocksHTML(blocks, ctx) {
    return (blocks || []).map((b) => {
      switch (b.type) {
        case "section": {
          const fields = (b.fields || []).map((f) => `<div>${textObject(f)}</div>`).join("");
          const accessory = b.accessory ? `<div class="actions">${elementHTML(b.accessory, b, ctx)}</div>` : "";
          return `<div class="block mrkdwn">${textObject(b.text)}${fields}</div>${accessory}`;
        }
        case "context":
          return `<div class="block context mrkdwn">${(b.elements || []).map((e) => (e.type === "image" ? "" : textObject(e))).join(" ")}</div>`;
        case "actions":
          return `<div class="block actions">${(b.elements || []).map((e) => elementHTML(e, b, ctx)).join("")}</div>`;
        case "divider":
          return `<hr class="divider">`;
        case "header":
          return `<div class="block header">${textObject(b.text)}</div>`;
        default:
          return "";
      }
    }).join("");
  }

  // -- messages -------------------------------------------------------------------------------

  function avatar(userId) {
    const user = (ui.state.slack.users || {})[userId] || { name: userId, color: "#888" };
    return `<div class="avatar" style="background:${esc(user.color)}">${esc(user.name.slice(0, 1))}</div>`;
  }

  function head(userId, ts) {
    const app = userId === BOT ? `<span class="app-tag">APP</span>` : "";
    return `<div class="msg-head"><span class="msg-name">${esc(userName(userId))}</span>${app}<span class="msg-time">${clock(ts)}</span></div>`;
  }

  function isClosed(message) {
    return JSON.stringify(message.blocks || []).includes("*Status:* Closed");
  }

  function messageHTML(message, channel, threadTs) {
    const ctx = { channel, message_ts: message.ts, thread_ts: threadTs };
    let body;
    if (message.blocks && message.blocks.length) {
      const card = message.conversation != null;
      body = `<div class="${card ? `card${isClosed(message) ? " closed" : ""}` : ""}">${blocksHTML(message.blocks, ctx)}</div>`;
    } else {
      body = `<div class="mrkdwn">${mrkdwn(message.text)}</div>`;
    }
    for (const attachment of message.attachments || []) {
      body += `<div class="attachment">${blocksHTML(attachment.blocks, ctx)}</div>`;
    }
    const edited = message.edited && message.user !== BOT ? ` <span class="edited">(edited)</span>` : "";
    const reactions = (message.reactions || []).length
      ? `<div class="reactions">${message.reactions.map((r) => `<span class="reaction" title=":${esc(r.name)}:">${EMOJI[r.name] || `:${esc(r.name)}:`} ${r.count}</span>`).join("")}</div>`
      : "";
    let replies = "";
    if (!threadTs && message.replies && (message.replies.length || message.conversation != null)) {
      const n = message.replies.length;
      const label = n ? `${n} ${n === 1 ? "reply" : "replies"}` : "Open thread";
      replies = `<button type="button" class="replies-link" data-open-thread="${esc(`${channel}|${message.ts}`)}">${label}</button>`;
    }
    return `<div class="msg" data-ts="${esc(message.ts)}">${avatar(message.user)}<div class="msg-body">${head(message.user, message.ts)}${body}${edited}${reactions}${replies}</div></div>`;
  }

  function ephemeralHTML(note) {
    const ctx = { channel: note.channel, message_ts: note.ts, thread_ts: note.thread_ts, ephemeral: note.key };
    let body = "";
    if (note.command) body += `<div class="command-line">${esc(note.command)}</div>`;
    if (note.blocks && note.blocks.length) body += blocksHTML(note.blocks, ctx);
    else body += `<div class="mrkdwn">${mrkdwn(note.command ? note.answer : note.text)}</div>`;
    return `<div class="msg ephemeral">${avatar(BOT)}<div class="msg-body"><div class="only-you">Only visible to you</div>${head(BOT, note.ts)}${body}</div></div>`;
  }

  function itemsHTML(items, channel, threadTs) {
    return items.map((item) => (item.key ? ephemeralHTML(item) : messageHTML(item, channel, threadTs))).join("");
  }

  // -- rendering ------------------------------------------------------------------------------

  function changed(name, value) {
    const key = JSON.stringify(value);
    if (ui.keys[name] === key) return false;
    ui.keys[name] = key;
    return true;
  }

  function busy(el) {
    const active = document.activeElement;
    return active && active.tagName === "SELECT" && el.contains(active);
  }

  function paint(el, name, value, html) {
    if (busy(el) || !changed(name, value)) return;
    const stick = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    const fresh = ui.keys[`${name}:view`] !== JSON.stringify(value.view || null);
    ui.keys[`${name}:view`] = JSON.stringify(value.view || null);
    el.innerHTML = html;
    if (stick || fresh) el.scrollTop = el.scrollHeight;
  }

  function currentChannel() {
    const channels = ui.state.slack.channels;
    return channels.find((c) => c.id === ui.view.id) || channels[0];
  }

  function renderSidebar() {
    const st = ui.state;
    $("workspace-name").textContent = st.business;
    $("business-name").textContent = st.business;
    const list = $("channel-list");
    const html = st.slack.channels.map((c) => {
      const shown = ui.view.kind === "channel" && ui.view.id === c.id;
      const newest = c.messages.length ? parseFloat(c.messages[c.messages.length - 1].ts) : 0;
      // What was there when the page opened counts as read; so does the channel shown.
      if (shown || !(c.id in ui.seenChannels)) ui.seenChannels[c.id] = newest;
      const unread = c.messages.filter((m) => parseFloat(m.ts) > ui.seenChannels[c.id]).length;
      const mark = unread ? ` <span class="badge" title="${unread} new">${unread}</span>` : "";
      const classes = `nav-item${shown ? " active" : ""}${unread ? " unread" : ""}`;
      return `<li><button type="button" class="${classes}" data-channel="${esc(c.id)}"># ${esc(c.name)}${mark}</button></li>`;
    }).join("");
    if (changed("channels", html)) list.innerHTML = html;
    $("nav-dm").classList.toggle("active", ui.view.kind === "dm");
    $("nav-home").classList.toggle("active", ui.view.kind === "home");

    const dms = st.slack.dm.messages;
    const seen = ui.seenDm[ui.me] || 0;
    if (ui.view.kind === "dm" && dms.length) ui.seenDm[ui.me] = parseFloat(dms[dms.length - 1].ts);
    const unread = dms.filter((m) => parseFloat(m.ts) > (ui.seenDm[ui.me] || seen)).length;
    const badge = $("dm-badge");
    badge.hidden = unread === 0;
    badge.textContent = String(unread);

    const latest = dms.slice(-3).reverse();
    const activity = latest.length
      ? latest.map((m) => `<li data-open-dm="1" title="Open the DM">${mrkdwn(m.text)}</li>`).join("")
      : `<li class="empty">DMs from Baton (hand-offs, reminders) show up here.</li>`;
    if (changed("activity", [ui.me, activity])) $("activity").innerHTML = activity;
  }

  function renderMain() {
    const st = ui.state;
    const timeline = $("timeline");
    $("composer").hidden = ui.view.kind === "home";
    $("composer-input").placeholder = `Run a command, like ${st.slack.slash_command} help or ${st.slack.slash_command} mine`;
    if (ui.view.kind === "home") {
      $("pane-title").textContent = "Baton · Home";
      $("pane-sub").textContent = "What Baton publishes on your Home tab";
      const home = st.slack.home;
      const html = home ? `<div class="msg"><div class="msg-body">${blocksHTML(home.blocks, { channel: "", message_ts: "" })}</div></div>` : `<div class="empty">Opening the Home tab…</div>`;
      paint(timeline, "main", { view: ui.view, me: ui.me, home }, html);
      return;
    }
    if (ui.view.kind === "dm") {
      const dm = st.slack.dm;
      $("pane-title").textContent = "Baton";
      $("pane-sub").textContent = "Direct messages from the app: hand-offs, reminders, exports";
      const items = [...dm.messages, ...st.slack.ephemerals.filter((e) => e.channel === dm.id && !e.thread_ts)].sort(byTs);
      const files = dm.files.map((f) => `<div class="msg">${avatar(BOT)}<div class="msg-body">${head(BOT, String(Date.now() / 1000))}<a class="file" href="/api/file/${esc(f.id)}" target="_blank">File: ${esc(f.title)} (${f.size} bytes)</a></div></div>`).join("");
      const html = items.length || files ? itemsHTML(items, dm.id, null) + files : `<div class="empty">No direct messages from Baton yet.</div>`;
      paint(timeline, "main", { view: ui.view, me: ui.me, items, files: dm.files }, html);
      return;
    }
    const channel = currentChannel();
    ui.view.id = channel.id;
    const queue = st.queues.find((q) => q.channel === channel.id) || {};
    $("pane-title").textContent = `# ${channel.name}`;
    $("pane-sub").textContent = queue.default
      ? "Queue: everything no keyword routes elsewhere"
      : `Queue: texts with ${(queue.keywords || []).join(", ")}`;
    const items = [...channel.messages, ...st.slack.ephemerals.filter((e) => e.channel === channel.id && !e.thread_ts)].sort(byTs);
    const html = items.length
      ? itemsHTML(items, channel.id, null)
      : `<div class="empty">No conversations yet. Text the business from the phone${queue.default ? "" : ` with “${esc((queue.keywords || [])[0] || "")}”`} and a card appears here.</div>`;
    paint(timeline, "main", { view: ui.view, me: ui.me, items }, html);
  }

  function renderThread() {
    const pane = $("thread-pane");
    const st = ui.state;
    const channel = ui.thread && st.slack.channels.find((c) => c.id === ui.thread.channel);
    const parent = channel && channel.messages.find((m) => m.ts === ui.thread.ts);
    pane.hidden = !parent;
    $("slack").classList.toggle("with-thread", Boolean(parent));
    if (!parent) return;
    $("thread-sub").textContent = `# ${channel.name}${parent.conversation != null ? ` · #${parent.conversation}` : ""}`;
    const notes = st.slack.ephemerals.filter((e) => e.thread_ts === parent.ts && e.channel === channel.id);
    const items = [...parent.replies, ...notes].sort(byTs);
    const html = `<div class="thread-parent">${messageHTML(parent, channel.id, parent.ts)}</div>`
      + `<div class="reply-count">${parent.replies.length} ${parent.replies.length === 1 ? "reply" : "replies"}</div>`
      + itemsHTML(items, channel.id, parent.ts);
    paint($("thread"), "thread", { view: ui.thread, me: ui.me, parent, items }, html);
  }

  function digits(text) {
    return String(text || "").replace(/\D/g, "");
  }

  function phoneFor(text) {
    const typed = digits(text);
    if (!typed) return null;
    const numbers = ui.state.phones.numbers;
    return numbers.find((n) => digits(n.number) === typed || digits(n.number) === `1${typed}`) || null;
  }

  function renderPhone() {
    const phones = ui.state.phones;
    $("business-number").textContent = phones.business.label;
    const options = phones.numbers.map((n) => `<option value="${esc(n.label)}"></option>`).join("");
    if (changed("numbers", options)) $("phone-numbers").innerHTML = options;
    const input = $("phone-number");
    if (!ui.phone && phones.numbers.length && document.activeElement !== input && !input.value) {
      ui.phone = phones.numbers[0].number;
      input.value = phones.numbers[0].label;
    }
    const found = phoneFor(input.value);
    $("phone-off").checked = Boolean(found && found.unreachable);
    const texts = found ? phones.texts.filter((t) => t.number === found.number) : [];
    const html = texts.length
      ? texts.map((t) => {
        const status = t.direction === "out" ? t.status : (t.status === "sent" ? "sent" : t.status);
        const note = t.note ? ` · ${esc(t.note)}` : "";
        return `<div class="bubble-wrap ${t.direction}"><div class="bubble">${esc(t.body)}</div><div class="text-status ${esc(status)}">${esc(status)}${note}</div></div>`;
      }).join("")
      : `<div class="empty">No texts with this number yet.<br>Type one below to text ${esc(ui.state.business)}.</div>`;
    paint($("phone-texts"), "phone", { view: found && found.number, texts }, html);
  }

  function renderReplay() {
    const replay = ui.state.replay;
    const button = $("replay");
    button.disabled = replay.running;
    button.textContent = replay.running ? "Replaying…" : (replay.runs ? "▶ Replay again" : "▶ Replay a day");
    const list = $("replay-steps");
    list.hidden = !replay.steps.length;
    const icons = { waiting: "○", running: "◔", done: "✓", failed: "✗" };
    const html = replay.steps.map((s) => `<li class="step ${esc(s.state)}" data-step="${esc(s.id)}"><span class="icon">${icons[s.state] || "○"}</span><span><span class="label">${esc(s.label)}</span>${s.detail ? `<span class="detail">${esc(s.detail)}</span>` : ""}</span></li>`).join("");
    if (changed("replay", html)) list.innerHTML = html;
  }

  // -- the modal ------------------------------------------------------------------------------

  function teamOptions(selected) {
    const users = ui.state.slack.users;
    const ids = [...ui.state.team.map((p) => p.id), BOT];
    return `<option value="">Pick a person</option>${ids.map((id) => `<option value="${esc(id)}"${id === selected ? " selected" : ""}>${esc(users[id] ? users[id].real_name : id)}${id === BOT ? " (bot)" : ""}</option>`).join("")}`;
  }

  function inputHTML(block) {
    const e = block.element || {};
    const data = `data-block="${esc(block.block_id)}" data-action="${esc(e.action_id)}" data-type="${esc(e.type)}"`;
    const id = `in-${esc(block.block_id)}`;
    let control = "";
    if (e.type === "plain_text_input") {
      const max = e.max_length ? ` maxlength="${e.max_length}"` : "";
      control = e.multiline
        ? `<textarea id="${id}" ${data}${max}>${esc(e.initial_value || "")}</textarea>`
        : `<input id="${id}" ${data}${max} value="${esc(e.initial_value || "")}">`;
    } else if (e.type === "users_select") {
      control = `<select id="${id}" ${data}>${teamOptions(e.initial_user)}</select>`;
    } else if (e.type === "static_select") {
      const initial = e.initial_option ? e.initial_option.value : null;
      const options = (e.options || []).map((o, i) => `<option value="${i}"${o.value === initial ? " selected" : ""}>${esc(o.text.text)}</option>`).join("");
      const dispatch = block.dispatch_action ? " data-dispatch=\"1\"" : "";
      control = `<select id="${id}" ${data}${dispatch}><option value="">Choose…</option>${options}</select>`;
    } else {
      control = `<div class="hint">(${esc(e.type)} is not shown in the sandbox)</div>`;
    }
    const label = textObject(block.label);
    const optional = block.optional && !/optional/i.test(label) ? ` <span class="optional">(optional)</span>` : "";
    const hint = block.hint ? `<div class="hint">${textObject(block.hint)}</div>` : "";
    return `<div class="input-block" data-input="${esc(block.block_id)}"><label for="${id}">${label}${optional}</label>${control}${hint}<div class="error" hidden></div></div>`;
  }

  function renderModal() {
    const modal = ui.state.slack.modal;
    const backdrop = $("modal");
    if (!modal) {
      backdrop.hidden = true;
      ui.modalKey = null;
      return;
    }
    const key = `${modal.id}|${modal.hash}`;
    if (ui.modalKey !== key) {
      ui.modalKey = key;
      $("modal-title").textContent = (modal.title || {}).text || "";
      $("modal-body").innerHTML = (modal.blocks || []).map((b) => (b.type === "input" ? inputHTML(b) : blocksHTML([b], { channel: "", message_ts: "" }))).join("");
      $("modal-submit").hidden = !modal.submit;
      $("modal-submit").textContent = modal.submit ? modal.submit.text : "Submit";
      $("modal-cancel").textContent = modal.close ? modal.close.text : "Cancel";
      backdrop.hidden = false;
    }
    showErrors(modal.errors || {});
  }

  function showErrors(errors) {
    document.querySelectorAll("#modal-body .input-block").forEach((block) => {
      const message = errors[block.dataset.input];
      const el = block.querySelector(".error");
      el.hidden = !message;
      el.innerHTML = message ? mrkdwn(message) : "";
      block.classList.toggle("has-error", Boolean(message));
    });
  }

  function modalValues() {
    const modal = ui.state.slack.modal;
    const values = {};
    document.querySelectorAll("#modal-body [data-block]").forEach((el) => {
      const { block, action, type } = el.dataset;
      let value;
      if (type === "plain_text_input") value = { type, value: el.value === "" ? null : el.value };
      else if (type === "users_select") value = { type, selected_user: el.value || null };
      else if (type === "static_select") {
        const source = modal.blocks.find((b) => b.block_id === block);
        const option = el.value === "" ? null : source.element.options[Number(el.value)];
        value = { type, selected_option: option };
      } else return;
      values[block] = { ...(values[block] || {}), [action]: value };
    });
    return values;
  }

  // -- talking to the sandbox -----------------------------------------------------------------

  function toast(message) {
    const el = $("toast");
    el.innerHTML = mrkdwn(message); // `/sms help` shows as code, as in Slack
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
  }

  async function post(path, body) {
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: ui.me, ...body }),
      });
      const data = await response.json().catch(() => ({}));
      // A mistake comes back as {ok: false, error}; a 403 or a 5xx as its status.
      if (!response.ok || data.ok === false) {
        toast(data.error || `The sandbox answered ${response.status}.`);
        return null;
      }
      refresh();
      return data;
    } catch (error) {
      toast("The sandbox is not answering; is python -m sandbox still running?");
      return null;
    }
  }

  function render() {
    const st = ui.state;
    const replay = st.replay;
    if (ui.follow && replay.conversation) {
      if (ui.me !== replay.actor) {
        setMe(replay.actor, true);
        return; // the next poll fetches what the actor sees
      }
      ui.view = { kind: "channel", id: replay.conversation.channel };
      ui.thread = { channel: replay.conversation.channel, ts: replay.conversation.ts };
      if (replay.conversation.phone && (!ui.phone || ui.phone !== replay.conversation.phone)) {
        ui.phone = replay.conversation.phone;
        const found = st.phones.numbers.find((n) => n.number === ui.phone);
        if (found) $("phone-number").value = found.label;
      }
    }
    if (!ui.view.id && ui.view.kind === "channel") {
      const home = st.queues.find((q) => q.default) || st.queues[0];
      ui.view.id = home && home.channel;
    }
    renderSidebar();
    renderMain();
    renderThread();
    renderPhone();
    renderReplay();
    renderModal();
  }

  async function refresh() {
    if (ui.pending) {
      ui.again = true;
      return;
    }
    ui.pending = true;
    try {
      const response = await fetch(`/api/state?user=${encodeURIComponent(ui.me)}`, { cache: "no-store" });
      if (response.ok) {
        const state = await response.json();
        if (state.slack.me === ui.me) {
          ui.state = state;
          render();
        }
      }
    } catch (error) {
      // The sandbox stopped or restarts; keep polling quietly.
    } finally {
      ui.pending = false;
      if (ui.again) {
        ui.again = false;
        refresh();
      }
    }
  }

  function setMe(user, following) {
    ui.me = user;
    $("me").value = user;
    if (!following) ui.follow = false;
    ui.modalKey = null;
    if (ui.view.kind === "home") post("/api/home", {}); // Slack publishes each person's own Home
    else refresh();
  }

  function openView(kind, id) {
    ui.follow = false;
    ui.view = { kind, id: id || null };
    if (kind !== "channel") ui.thread = null;
    if (kind === "home") post("/api/home", {});
    render();
  }

  // -- wiring ---------------------------------------------------------------------------------

  function setup() {
    document.addEventListener("click", (event) => {
      const target = event.target.closest("[data-act], [data-open-thread], [data-thread], [data-channel], [data-open-dm]");
      if (!target) return;
      if (target.tagName === "BUTTON" && target.dataset.act) {
        const act = JSON.parse(target.dataset.act);
        if (!act.channel) return;
        post("/api/click", act);
      } else if (target.dataset.openThread || target.dataset.thread) {
        event.preventDefault();
        const [channel, ts] = (target.dataset.openThread || target.dataset.thread).split("|");
        ui.follow = false;
        ui.view = { kind: "channel", id: channel };
        ui.thread = { channel, ts };
        render();
        $("thread-input").focus();
      } else if (target.dataset.channel) {
        openView("channel", target.dataset.channel);
      } else if (target.dataset.openDm) {
        openView("dm");
      }
    });
    document.addEventListener("change", (event) => {
      const select = event.target;
      if (select.tagName !== "SELECT" || !select.dataset.act || select.value === "") return;
      const act = JSON.parse(select.dataset.act);
      const option = act.element.options[Number(select.value)];
      select.value = "";
      select.blur();
      post("/api/click", { ...act, option });
    });

    // Any move of the visitor's own ends following the replay: the page is theirs again.
    const takeOver = (event) => {
      if (!event.target.closest || !event.target.closest("#replay")) ui.follow = false;
    };
    ["pointerdown", "keydown", "input"].forEach((kind) => document.addEventListener(kind, takeOver, true));

    $("toast").addEventListener("click", () => { $("toast").hidden = true; });
    $("me").innerHTML = "";
    $("me").addEventListener("change", (event) => setMe(event.target.value, false));
    $("nav-dm").addEventListener("click", () => openView("dm"));
    $("nav-home").addEventListener("click", () => openView("home"));
    $("thread-close").addEventListener("click", () => { ui.follow = false; ui.thread = null; render(); });

    $("replay").addEventListener("click", async () => {
      const answer = await post("/api/replay", {});
      if (answer && answer.started) ui.follow = true;
    });

    $("phone-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("phone-input");
      const body = input.value;
      if (!body.trim()) return;
      const sent = await post("/api/text", { number: $("phone-number").value, body });
      if (sent) {
        input.value = "";
        ui.phone = sent.number;
        ui.keys.phone = null;
      }
    });
    $("phone-number").addEventListener("input", () => { ui.keys.phone = null; if (ui.state) renderPhone(); });
    $("phone-off").addEventListener("change", (event) => {
      post("/api/phone", { number: $("phone-number").value, unreachable: event.target.checked });
    });

    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("composer-input");
      if (!input.value.trim()) return;
      const channel = ui.view.kind === "dm" ? ui.state.slack.dm.id : ui.view.id;
      const answer = await post("/api/command", { channel, text: input.value });
      if (answer) input.value = "";
    });

    const sendReply = async () => {
      const input = $("thread-input");
      if (!ui.thread || !input.value.trim()) return;
      const text = input.value;
      const answer = await post("/api/reply", { channel: ui.thread.channel, thread_ts: ui.thread.ts, text });
      if (answer) input.value = "";
    };
    $("thread-form").addEventListener("submit", (event) => { event.preventDefault(); sendReply(); });
    $("thread-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        sendReply();
      }
    });

    const closeModal = () => {
      const modal = ui.state && ui.state.slack.modal;
      $("modal").hidden = true;
      ui.modalKey = null;
      if (modal) post("/api/view/close", { view_id: modal.id });
    };
    $("modal-x").addEventListener("click", closeModal);
    $("modal-cancel").addEventListener("click", closeModal);
    $("modal-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const modal = ui.state.slack.modal;
      if (!modal) return;
      const answer = await post("/api/view/submit", { view_id: modal.id, values: modalValues() });
      if (answer && Object.keys(answer.errors || {}).length) showErrors(answer.errors);
      else if (answer) $("modal").hidden = true;
    });
    $("modal-body").addEventListener("change", (event) => {
      const el = event.target;
      if (!el.dataset.dispatch || el.value === "") return;
      const modal = ui.state.slack.modal;
      const block = modal.blocks.find((b) => b.block_id === el.dataset.block);
      post("/api/view/action", {
        view_id: modal.id, block_id: block.block_id, element: block.element,
        option: block.element.options[Number(el.value)],
      });
    });
  }

  async function start() {
    setup();
    const response = await fetch(`/api/state?user=${ui.me}`, { cache: "no-store" });
    const state = await response.json();
    // Reloading Slack closes any open modal; here too, so none is left over the page.
    await Promise.all(state.team.map((p) => fetch("/api/view/close", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: p.id }),
    }).catch(() => null)));
    state.slack.modal = null;
    $("me").innerHTML = state.team.map((p) => `<option value="${esc(p.id)}">${esc(p.display_name)} (${esc(p.real_name)})</option>`).join("");
    $("me").value = ui.me;
    ui.state = state;
    render();
    setInterval(refresh, POLL_MS);
  }

  start();
})();
