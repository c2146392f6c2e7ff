/**
 * The delivery log page at `/` of the HTTP port: state counts, the config in use, and the latest
 * messages with the reason for each failure. Plain server-rendered HTML (no script), every value
 * escaped, refreshed by the browser every few seconds.
 *
 * @module
 */
import { endpointAddress } from '../smtp/uri.ts';
import type { ConfigState } from './config-watcher.ts';
import { MESSAGE_STATES, type MessageState, type MessageView } from './types.ts';

export interface PageData {
  counts: Record<MessageState, number>;
  messages: MessageView[];
  config: ConfigState;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The reply with its code in front (servers' replies usually start with it already). */
export function replyText(a: { code: number | null; reply: string }): string {
  if (a.code === null) return `no reply: ${a.reply}`;
  return a.reply.startsWith(String(a.code)) ? a.reply : `${a.code} ${a.reply}`;
}

function explain(m: MessageView): string {
  const last = m.attempts.at(-1);
  const reply = last ? replyText(last) : '';
  if (m.state === 'abandoned') return `${m.reason ?? 'abandoned'}: ${reply}`;
  if (m.state === 'deferred') return `${m.reason ?? 'deferred'}: ${reply}`;
  if (m.state === 'sent') return reply;
  return m.state === 'queued' ? 'waiting for its turn' : 'being sent';
}

/** The To cell: each recipient with its own state and, when it has one, its last reply. */
function recipientsCell(m: MessageView): string {
  const states = m.recipientStates ?? [];
  if (states.length === 0) return escapeHtml(m.recipients.join(', '));
  return states
    .map((r) => {
      const reply =
        r.reply !== undefined
          ? ` <span class="reply">${escapeHtml(replyText({ code: r.code ?? null, reply: r.reply }))}</span>`
          : '';
      return `<div class="rcpt ${r.state}" data-state="${r.state}">${escapeHtml(r.address)} <small>${r.state}</small>${reply}</div>`;
    })
    .join('');
}

/** Renders the page. */
export function renderPage(d: PageData): string {
  const counts = MESSAGE_STATES.map(
    (s) => `<li class="count ${s}" data-state="${s}"><b>${d.counts[s]}</b> ${s}</li>`,
  ).join('');
  const cur = d.config.current;
  const config = cur
    ? `Delivering to <code>${escapeHtml(endpointAddress(cur.endpoint))}</code> (${cur.endpoint.security}) as
       <code>${escapeHtml(cur.config.from.address)}</code>, config revision <code>${escapeHtml(cur.config.revision)}</code>.`
    : 'No config yet: mail is accepted and queued, not delivered.';
  const problem = d.config.problem
    ? `<p class="problem" role="alert">${escapeHtml(d.config.problem)}</p>`
    : '';
  const rows = d.messages
    .map(
      (m) => `<tr class="${m.state}" data-id="${m.id}">
  <td><time datetime="${m.updatedAt}">${m.updatedAt.replace('T', ' ').slice(0, 19)}</time></td>
  <td class="state">${m.state}</td>
  <td class="to">${recipientsCell(m)}</td>
  <td>${escapeHtml(m.subject)}</td>
  <td>${m.attempts.length}</td>
  <td class="why">${escapeHtml(explain(m))}</td>
</tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Mailroom delivery log</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
ul.counts{display:flex;gap:1em;list-style:none;padding:0}
li.count{padding:.4em .8em;border-radius:4px;background:#eee}
li.abandoned b{color:#b00}li.deferred b{color:#a60}li.sent b{color:#070}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3em .5em;border-bottom:1px solid #ddd;vertical-align:top}
tr.abandoned td.state{color:#b00}tr.deferred td.state{color:#a60}.problem{color:#b00}
td.why{font-family:ui-monospace,monospace;font-size:12px;word-break:break-word}
.rcpt small{color:#666}.rcpt.pending small{color:#a60}.rcpt.abandoned small{color:#b00}.rcpt.sent small{color:#070}
.rcpt .reply{font-family:ui-monospace,monospace;font-size:11px;color:#555}
</style></head>
<body>
<h1>Mailroom delivery log</h1>
<p class="config">${config}</p>
${problem}
<ul class="counts">${counts}</ul>
<table><thead><tr><th>Updated</th><th>State</th><th>To</th><th>Subject</th><th>Attempts</th><th>Why</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="6">No messages yet.</td></tr>'}
</tbody></table>
</body></html>
`;
}
