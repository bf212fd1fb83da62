/*! Concord console: the live review queue. The queue page subscribes to
 * /console/api/queue/events (server-sent events, the staff session's cookie) and redraws its two
 * tables when the queue changes, without a reload; waiting times count up every 15 s. Customer
 * text is set as text only. Without JavaScript the page works as before (reload to refresh). */
(function () {
  'use strict';

  var root = document.querySelector('[data-live-queue]');
  if (!root || !window.EventSource) return;
  var part = function (name) { return root.querySelector('[data-live="' + name + '"]'); };
  var skew = 0; // server clock minus ours
  // Texts in the console's language, rendered by the server from its catalogue.
  var lang = document.documentElement.lang || 'pl';
  function tx(name) { return root.getAttribute('data-t-' + name) || ''; }
  var rules = window.Intl && Intl.PluralRules ? new Intl.PluralRules(lang) : null;
  function counted(name, n) {
    var forms = {};
    try { forms = JSON.parse(tx(name)); } catch (e) { /* keep {} */ }
    var category = rules ? rules.select(n) : (n === 1 ? 'one' : 'other');
    var form = forms[category] || forms.other || forms.many || '#';
    return form.replace('#', String(n));
  }

  function waited(since) {
    var min = Math.max(0, Math.floor((Date.now() + skew - since) / 60000));
    if (min < 1) return tx('now');
    if (min < 60) return tx('minutes').replace('#m', min);
    var h = Math.floor(min / 60);
    if (h < 24) return tx('hours').replace('#h', h).replace('#m', min % 60);
    var d = Math.floor(h / 24);
    var days = tx(d === 1 ? 'days-one' : 'days-other').replace('#h', h % 24);
    return d === 1 ? days : days.replace(/\b2\b/, String(d));
  }

  function tickWaits() {
    Array.prototype.forEach.call(root.querySelectorAll('time[data-since]'), function (t) {
      var since = Number(t.getAttribute('data-since'));
      t.textContent = waited(since);
      // waiting half an hour or more is late
      t.classList.toggle('late', Date.now() + skew - since >= 30 * 60000);
    });
  }

  function cell(child) {
    var td = document.createElement('td');
    if (typeof child === 'string') td.textContent = child; else td.appendChild(child);
    return td;
  }
  function span(cls, text) {
    var s = document.createElement('span');
    s.className = cls;
    s.textContent = text;
    return s;
  }
  function link(href, text) {
    var a = document.createElement('a');
    a.href = href;
    a.textContent = text.length > 120 ? text.slice(0, 119).trim() + '\u2026' : text;
    return a;
  }
  function since(ms) {
    var t = document.createElement('time');
    t.setAttribute('data-since', String(ms));
    t.title = new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
    return t;
  }

  /** What a row shows (cells' text, the waiting time's start, the link), to tell a changed row
   * from the same one drawn again. */
  function rowKey(tr) {
    var a = tr.querySelector('a');
    return Array.prototype.map.call(tr.cells, function (c) {
      var t = c.querySelector('time');
      return t ? t.getAttribute('data-since') : c.textContent.trim();
    }).join('|') + '|' + (a ? a.getAttribute('href') : '') + '|' + tr.className;
  }

  /** Puts `rows` in the table, keeping the rows already shown that did not change (a redraw
   * must not move what staff are about to click). */
  function fill(name, rows) {
    var table = part(name);
    var body = table.querySelector('tbody');
    var old = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) {
      var here = old[i];
      if (here && rowKey(here) === rowKey(r)) return;
      if (here) body.replaceChild(r, here); else body.appendChild(r);
    });
    for (var i = old.length - 1; i >= rows.length; i--) body.removeChild(old[i]);
    table.hidden = rows.length === 0;
    part(name + '-empty').hidden = rows.length !== 0;
  }

  function render(q) {
    if (typeof q.now_ms === 'number') skew = q.now_ms - Date.now();
    part('pending').textContent = counted('pending', q.pending);
    part('waiting').textContent = counted('waiting', q.waiting);
    fill('items', (q.items || []).map(function (i) {
      var tr = document.createElement('tr');
      tr.className = 'risk-' + i.risk;
      var why = document.createElement('td');
      why.appendChild(span('kind kind-' + i.kind, tx('kind-' + i.kind) || i.kind));
      if (i.kind !== 'blocked') {
        why.appendChild(document.createTextNode(' '));
        why.appendChild(span('waits', tx('customer-waits')));
      }
      tr.appendChild(why);
      tr.appendChild(cell(link('/console/items/' + encodeURIComponent(i.decision_id), String(i.question || ''))));
      tr.appendChild(cell(i.verdict_status || '\u2013'));
      tr.appendChild(cell(i.canonical_id || '\u2013'));
      tr.appendChild(cell(since(i.created_ms)));
      return tr;
    }));
    fill('people', (q.people || []).map(function (c) {
      var tr = document.createElement('tr');
      tr.appendChild(cell(span('kind kind-' + c.status, tx('status-' + c.status) || c.status)));
      tr.appendChild(cell(link('/console/conversations/' + encodeURIComponent(c.conversation_id),
        String(c.question || tx('no-question')))));
      tr.appendChild(cell(since(c.updated_ms)));
      return tr;
    }));
    tickWaits();
    part('state').textContent = tx('live').replace('#', new Date().toLocaleTimeString(lang));
    root.setAttribute('data-live-updated', String(Date.now()));
  }

  tickWaits();
  setInterval(tickWaits, 15000);
  var events = new EventSource('/console/api/queue/events');
  events.addEventListener('queue', function (e) {
    try { render(JSON.parse(e.data)); } catch (err) { /* a malformed update: keep the last one */ }
  });
  events.onerror = function () {
    // EventSource reconnects by itself; the page says the list may be stale meanwhile.
    part('state').textContent = tx('reconnecting');
  };
}());
