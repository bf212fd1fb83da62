/*! Concord chat widget: one <script src=".../widget.js" defer> tag adds a launcher button and a
 * chat window to any page and speaks the customer API (docs/api.md). Plain JavaScript, no
 * dependencies, no requests except to the Concord server. Server text is rendered as text only. */
(function () {
  'use strict';

  if (window.ConcordWidget) return; // included twice: the first copy wins
  var script = document.currentScript ||
    document.querySelector('script[src$="/widget.js"], script[src*="/widget.js?"]');
  window.ConcordWidget = { version: '1' };

  // ---------------------------------------------------------------- configuration

  var data = (script && script.dataset) || {};
  var SERVER = (function () {
    try {
      // data-server may carry a path prefix (a proxy's /concord); the script's own src gives its origin
      if (data.server) return new URL(data.server, location.href).href.replace(/\/+$/, '');
      return new URL((script && script.src) || location.href, location.href).origin;
    } catch (e) { return location.origin; }
  })();
  var LANG = (function () {
    var l = (data.lang || document.documentElement.lang || '').toLowerCase();
    return l.indexOf('pl') === 0 ? 'pl' : 'en';
  })();
  var CONTEXT = {};
  [['customerName', 'customer_name'], ['orderId', 'order_id'], ['orderStatus', 'order_status']]
    .forEach(function (p) { if (data[p[0]]) CONTEXT[p[1]] = String(data[p[0]]).slice(0, 200); });
  var STORAGE_KEY = 'concord:v1:' + SERVER;
  var BACKOFF_MS = [1000, 2000, 5000, 15000];

  // ---------------------------------------------------------------- texts

  var TEXTS = {
    pl: {
      launcher: 'Czat', launcherLabel: 'Otwórz czat pomocy', title: 'Czat pomocy',
      disclosure: 'Rozmawiasz z asystentem AI (sztuczną inteligencją), nie z człowiekiem. Odpowiada ' +
        'na podstawie stron pomocy sklepu i może się pomylić. W każdej chwili możesz poprosić, ' +
        'by rozmowę przejął konsultant.',
      intro: 'Dzień dobry! W czym mogę pomóc? Zapytaj np. o dostawę, zwrot albo płatności.',
      placeholder: 'Napisz wiadomość…', inputLabel: 'Twoja wiadomość', send: 'Wyślij',
      hide: 'Zamknij okno czatu', end: 'Zakończ rozmowę', human: 'Porozmawiaj z człowiekiem',
      authors: { customer: 'Ty', assistant: 'Asystent AI', staff: 'Konsultant', system: 'Informacja' },
      sources: 'Źródła:', thumbUp: 'Pomocna odpowiedź', thumbDown: 'Niepomocna odpowiedź',
      thumbThanks: 'Dziękujemy za ocenę odpowiedzi.',
      typing: 'Asystent AI pisze…', sending: 'Wysyłanie…',
      queue: function (n) { return 'Jesteś ' + n + '. w kolejce. Asystent zaraz odpowie.'; },
      waiting: 'Czekasz na konsultanta. Odpowiedź pojawi się tutaj.',
      joined: 'Konsultant dołączył do rozmowy.', withStaff: 'Rozmawiasz z konsultantem.',
      closed: 'Rozmowa zakończona.',
      pending: 'Odpowiedź pojawi się tutaj za chwilę.',
      csatQuestion: 'Jak oceniasz tę rozmowę?',
      csatScale: ['bardzo źle', 'źle', 'przeciętnie', 'dobrze', 'bardzo dobrze'],
      csatRate: function (n, label) { return 'Ocena ' + n + ' z 5: ' + label; },
      csatComment: 'Komentarz (opcjonalnie)', csatSend: 'Wyślij ocenę', csatSkip: 'Pomiń',
      csatPick: 'Wybierz odpowiedź.',
      resolvedQuestion: 'Czy to rozwiązało Twoją sprawę?', resolvedYes: 'Tak', resolvedNo: 'Nie',
      npsQuestion: 'Jak bardzo prawdopodobne jest, że polecisz nas znajomym? (0–10)',
      npsRate: function (n) { return 'Ocena ' + n + ' z 10'; },
      npsLegend: '0 – zupełnie nieprawdopodobne, 10 – bardzo prawdopodobne',
      thanks: 'Dziękujemy! Twoja opinia pomoże nam lepiej pomagać.', newChat: 'Nowa rozmowa',
      newChatLabel: 'Nowa rozmowa: usuń tę rozmowę z tego urządzenia',
      newChatConfirm: 'Zacząć nową rozmowę? Ta rozmowa zniknie z tego urządzenia.',
      privacy: 'Informacja o prywatności',
      emailOffer: 'Nie musisz czekać na czacie: zostaw adres e-mail, a odpowiedź konsultanta wyślemy też tam.',
      emailLabel: 'Adres e-mail', emailSave: 'Zapisz adres',
      emailSaved: function (a) { return 'Jeśli nie będzie Cię na czacie, odpowiedź wyślemy na adres ' + a + '.'; },
      emailRemove: 'Usuń adres', emailRemoved: 'Adres usunięty.',
      emailConsentNeeded: 'Zaznacz zgodę, aby zapisać adres.',
      emailInvalid: 'To nie wygląda na adres e-mail. Sprawdź go i spróbuj ponownie.',
      errors: {
        busy: 'Asystent jest teraz zajęty. Spróbuj ponownie za chwilę.',
        rate_limited: 'Wysyłasz wiadomości zbyt szybko. Spróbuj ponownie za kilka sekund.',
        conversation_closed: 'Ta rozmowa jest już zakończona. Rozpocznij nową rozmowę.',
        invalid_message: 'Tej wiadomości nie da się wysłać — może jest zbyt długa? Skróć ją i spróbuj ponownie.',
        shutting_down: 'Czat jest chwilowo niedostępny. Spróbuj ponownie za chwilę.',
        expired: 'Poprzednia rozmowa wygasła. Napisz ponownie, aby zacząć nową.',
        network: 'Nie udało się połączyć z czatem. Sprawdź połączenie i spróbuj ponownie.',
        generic: 'Coś poszło nie tak. Spróbuj ponownie za chwilę.'
      }
    },
    en: {
      launcher: 'Chat', launcherLabel: 'Open the help chat', title: 'Help chat',
      disclosure: 'You are chatting with an AI assistant (artificial intelligence), not a person. It ' +
        'answers from the shop\u2019s help pages and can make mistakes. You can ask for a person to ' +
        'take over at any time.',
      intro: 'Hello! How can I help? Ask me about delivery, returns or payments, for example.',
      placeholder: 'Write a message…', inputLabel: 'Your message', send: 'Send',
      hide: 'Close the chat window', end: 'End chat', human: 'Talk to a person',
      authors: { customer: 'You', assistant: 'AI assistant', staff: 'Staff', system: 'Note' },
      sources: 'Sources:', thumbUp: 'Helpful answer', thumbDown: 'Unhelpful answer',
      thumbThanks: 'Thank you for rating the answer.',
      typing: 'The AI assistant is typing…', sending: 'Sending…',
      queue: function (n) { return 'You are number ' + n + ' in line. The assistant will answer shortly.'; },
      waiting: 'You are waiting for a person. Their reply will appear here.',
      joined: 'A person has joined the conversation.', withStaff: 'You are chatting with a person.',
      closed: 'The conversation has ended.',
      pending: 'The answer will appear here shortly.',
      csatQuestion: 'How would you rate this conversation?',
      csatScale: ['very poor', 'poor', 'average', 'good', 'very good'],
      csatRate: function (n, label) { return 'Rating ' + n + ' of 5: ' + label; },
      csatComment: 'Comment (optional)', csatSend: 'Send rating', csatSkip: 'Skip',
      csatPick: 'Choose an answer.',
      resolvedQuestion: 'Did this solve your problem?', resolvedYes: 'Yes', resolvedNo: 'No',
      npsQuestion: 'How likely are you to recommend us to a friend? (0–10)',
      npsRate: function (n) { return 'Rating ' + n + ' of 10'; },
      npsLegend: '0 – not at all likely, 10 – extremely likely',
      thanks: 'Thank you! Your feedback helps us help you better.', newChat: 'New conversation',
      newChatLabel: 'New conversation: remove this one from this device',
      newChatConfirm: 'Start a new conversation? This one will be removed from this device.',
      privacy: 'Privacy notice',
      emailOffer: 'No need to wait in the chat: leave your e-mail address and we will send the reply there too.',
      emailLabel: 'E-mail address', emailSave: 'Save address',
      emailSaved: function (a) { return 'If you are not in the chat, we will send the reply to ' + a + '.'; },
      emailRemove: 'Remove address', emailRemoved: 'Address removed.',
      emailConsentNeeded: 'Tick the consent to save the address.',
      emailInvalid: 'That does not look like an e-mail address. Check it and try again.',
      errors: {
        busy: 'The assistant is busy right now. Please try again shortly.',
        rate_limited: 'You are sending messages too quickly. Please try again in a few seconds.',
        conversation_closed: 'This conversation has ended. Please start a new one.',
        invalid_message: 'This message cannot be sent — is it too long? Please shorten it and try again.',
        shutting_down: 'The chat is unavailable for a moment. Please try again shortly.',
        expired: 'Your previous conversation has expired. Write again to start a new one.',
        network: 'Could not reach the chat. Please check your connection and try again.',
        generic: 'Something went wrong. Please try again shortly.'
      }
    }
  };
  var T = TEXTS[LANG];

  function errorText(code) {
    return T.errors[code] || T.errors.generic;
  }

  // ---------------------------------------------------------------- storage

  var memoryStore = {};
  function load() {
    var raw = null;
    try { raw = window.localStorage.getItem(STORAGE_KEY); } catch (e) { raw = memoryStore[STORAGE_KEY]; }
    try {
      var v = raw ? JSON.parse(raw) : {};
      return v && typeof v === 'object' ? v : {};
    } catch (e) { return {}; }
  }
  function save(patch) {
    var v = load();
    Object.keys(patch).forEach(function (k) { v[k] = patch[k]; });
    var raw = JSON.stringify(v);
    try { window.localStorage.setItem(STORAGE_KEY, raw); } catch (e) { memoryStore[STORAGE_KEY] = raw; }
  }
  /** Removes fields from the stored object in localStorage AND in the memory fallback: on a
   * shared device the old token must not stay in either (a full localStorage drops the entry). */
  function unsave(keys) {
    var v = load();
    keys.forEach(function (k) { delete v[k]; });
    var raw = JSON.stringify(v);
    if (memoryStore[STORAGE_KEY] !== undefined) memoryStore[STORAGE_KEY] = raw;
    try { window.localStorage.setItem(STORAGE_KEY, raw); } catch (e) {
      try { window.localStorage.removeItem(STORAGE_KEY); } catch (e2) { /* no localStorage at all */ }
      memoryStore[STORAGE_KEY] = raw;
    }
  }

  // ---------------------------------------------------------------- SSE parser

  /** Incremental text/event-stream parser (WHATWG rules): feed() text as it arrives, in pieces
   * split anywhere; onEvent({event, data, id}) per dispatched event; comments go to onComment. */
  function SseParser(onEvent, onComment) {
    var buf = '', type = '', dataLines = null, lastId = '';
    function line(l) {
      if (l === '') {
        if (dataLines !== null) onEvent({ event: type || 'message', data: dataLines.join('\n'), id: lastId });
        type = ''; dataLines = null;
        return;
      }
      if (l.charAt(0) === ':') { if (onComment) onComment(l.slice(1).trim()); return; }
      var i = l.indexOf(':');
      var field = i < 0 ? l : l.slice(0, i);
      var value = i < 0 ? '' : l.slice(i + 1);
      if (value.charAt(0) === ' ') value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') (dataLines = dataLines || []).push(value);
      else if (field === 'id') { if (value.indexOf('\u0000') < 0) lastId = value; }
      // 'retry' and unknown fields are ignored
    }
    this.feed = function (text) {
      buf += text;
      var start = 0;
      for (var i = 0; i < buf.length; i++) {
        var c = buf.charAt(i);
        if (c === '\n' || c === '\r') {
          if (c === '\r' && i + 1 === buf.length) break; // maybe the \r of a \r\n split by a chunk
          line(buf.slice(start, i));
          if (c === '\r' && buf.charAt(i + 1) === '\n') i++;
          start = i + 1;
        }
      }
      buf = buf.slice(start);
    };
    /** End of stream: a last event without its blank line is still delivered (lenient). */
    this.end = function () {
      if (buf !== '') { var rest = buf.replace(/\r$/, ''); buf = ''; line(rest); }
      line('');
    };
  }

  /** Reads an SSE response body to its end; resolves when the stream ends. */
  function readSse(res, onEvent, onComment) {
    var parser = new SseParser(onEvent, onComment);
    if (!res.body || !res.body.getReader) { // no streaming bodies: the whole answer at once
      return res.text().then(function (t) { parser.feed(t); parser.end(); });
    }
    var decoder = new TextDecoder('utf-8');
    var reader = res.body.getReader();
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) { parser.feed(decoder.decode()); parser.end(); return; }
        parser.feed(decoder.decode(r.value, { stream: true }));
        return pump();
      });
    }
    return pump();
  }

  function parseJson(s) {
    try { return JSON.parse(s); } catch (e) { return null; }
  }

  // ---------------------------------------------------------------- HTTP

  function ApiError(status, code) { this.status = status; this.code = code; }

  /** One request to the server; rejects with ApiError (status, stable code) unless 2xx.
   * opts: {accept, signal}. */
  function api(method, path, body, opts) {
    opts = opts || {};
    var headers = { 'Accept': opts.accept || 'application/json' };
    if (state.conv) headers['Authorization'] = 'Bearer ' + state.conv.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (opts.signal) init.signal = opts.signal;
    return fetch(SERVER + path, init).then(function (res) {
      if (res.ok) return res;
      return res.json().catch(function () { return {}; }).then(function (j) {
        throw new ApiError(res.status, (j && j.code) || 'http_' + res.status);
      });
    }, function (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network');
    });
  }
  function json(res) { return res.json(); }
  function convPath(suffix) {
    return '/api/conversations/' + encodeURIComponent(state.conv.id) + (suffix || '');
  }
  function recorded(v) { return v !== null && v !== undefined; }
  function isGone(e) { return e instanceof ApiError && (e.status === 401 || e.status === 404); }

  // ---------------------------------------------------------------- state

  var state = {
    conv: null,          // {id, token}
    status: 'bot',       // bot | waiting_staff | staff | closed
    seen: {},            // message id -> bubble element
    lastId: 0,           // highest message id seen
    sending: false,
    provisional: null,   // the bubble that shows streamed tokens until `final`
    transient: '',       // queue position / typing, shown in the status line
    eventsGen: 0,        // bumps to stop an events loop
    eventsCtrl: null,
    sendGen: 0,          // bumps to drop the answer stream in flight ("New conversation")
    sendCtrl: null,
    csatDone: false,     // the survey was answered (resolved, csat or nps recorded)
    askNps: null,        // the shop wants the NPS question (GET ask_nps); null: not known yet
    emailOffered: false  // the address form was shown in this conversation
  };

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') n.textContent = v;
      else if (k === 'className') n.className = v;
      else n.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) { if (c) n.appendChild(c); });
    return n;
  }

  var ui = {};
  function build() {
    ui.launcher = el('button', {
      type: 'button', className: 'concord-launcher', 'data-concord': 'launcher',
      'aria-label': T.launcherLabel, 'aria-expanded': 'false', 'aria-controls': 'concord-window'
    }, [icon('chat', 'concord-launcher-icon'), el('span', { className: 'concord-launcher-text', text: T.launcher })]);

    ui.hide = el('button', {
      type: 'button', className: 'concord-icon-btn', 'data-concord': 'hide', 'aria-label': T.hide,
      title: T.hide, text: '\u00d7'
    });
    ui.end = el('button', {
      type: 'button', className: 'concord-end', 'data-concord': 'close', text: T.end, hidden: true
    });
    ui.newChat = el('button', {
      type: 'button', className: 'concord-new-chat', 'data-concord': 'new-chat',
      'aria-label': T.newChatLabel, title: T.newChatLabel, text: T.newChat, hidden: true
    });
    ui.disclosure = el('p', {
      className: 'concord-disclosure', 'data-concord': 'disclosure', id: 'concord-disclosure',
      text: T.disclosure
    });
    ui.status = el('p', {
      className: 'concord-status', 'data-concord': 'status', role: 'status', 'aria-live': 'polite'
    });
    ui.intro = el('p', { className: 'concord-intro', text: T.intro });
    ui.log = el('div', {
      className: 'concord-log', 'data-concord': 'log', role: 'log', 'aria-live': 'polite',
      'aria-relevant': 'additions text', tabindex: '0', 'aria-label': T.title
    }, [ui.intro]);
    ui.csat = el('div', { className: 'concord-csat', 'data-concord': 'csat', hidden: true });
    ui.input = el('textarea', {
      className: 'concord-input', 'data-concord': 'input', id: 'concord-input', rows: '2',
      placeholder: T.placeholder, 'aria-label': T.inputLabel, maxlength: '2000'
    });
    ui.send = el('button', { type: 'submit', className: 'concord-send', 'data-concord': 'send', text: T.send });
    ui.human = el('button', {
      type: 'button', className: 'concord-human', 'data-concord': 'human', text: T.human
    });
    ui.form = el('form', { className: 'concord-composer', 'data-concord': 'composer', novalidate: true },
      [ui.input, ui.send]);
    // outside the footer, which a closed conversation hides; the href comes with the conversation
    ui.privacy = el('a', {
      className: 'concord-privacy', 'data-concord': 'privacy', target: '_blank', rel: 'noopener noreferrer',
      text: T.privacy
    });
    ui.legal = el('p', { className: 'concord-legal', hidden: true }, [ui.privacy]);
    ui.window = el('div', {
      className: 'concord-window', id: 'concord-window', 'data-concord': 'window', role: 'dialog',
      'aria-modal': 'false', 'aria-labelledby': 'concord-title', 'aria-describedby': 'concord-disclosure',
      hidden: true
    }, [
      el('div', { className: 'concord-header' }, [
        el('h2', { className: 'concord-title', id: 'concord-title', text: T.title }),
        ui.newChat, ui.end, ui.hide
      ]),
      ui.disclosure, ui.log, ui.status, ui.csat,
      ui.footer = el('div', { className: 'concord-footer' }, [ui.form, ui.human]),
      ui.legal
    ]);
    ui.root = el('div', { className: 'concord-root', 'data-concord': 'root', lang: LANG },
      [ui.window, ui.launcher]);

    ui.launcher.addEventListener('click', function () { setOpen(ui.window.hidden); });
    ui.hide.addEventListener('click', function () { setOpen(false); });
    ui.window.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.preventDefault(); setOpen(false); }
      else if (e.key === 'Tab' && fullScreen()) wrapFocus(e);
    });
    ui.input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    ui.form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
    ui.human.addEventListener('click', askForPerson);
    ui.end.addEventListener('click', endConversation);
    ui.newChat.addEventListener('click', newConversation);
  }

  var ICONS = {
    chat: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
    thumb: 'M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6c-.4.4-.6.9-.6 1.4v10a2 2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z'
  };
  function icon(name, cls) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', cls);
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('d', ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  /** Full screen on phones: the page behind is covered, so the window behaves as a modal. */
  function fullScreen() {
    return !!(window.matchMedia && window.matchMedia('(max-width: 480px)').matches);
  }
  function wrapFocus(e) {
    var all = Array.prototype.filter.call(
      ui.window.querySelectorAll('button, a[href], textarea, [tabindex="0"]'),
      function (n) { return !n.disabled && n.getClientRects().length > 0; });
    if (!all.length) return;
    var first = all[0], last = all[all.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  }

  /** Shows or hides the window; `restoring`: reopened on page load, focus stays where it is. */
  function setOpen(open, restoring) {
    ui.window.hidden = !open;
    ui.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    ui.root.classList.toggle('concord-is-open', open);
    ui.root.classList.toggle('concord-restored', !!restoring);
    ui.window.setAttribute('aria-modal', open && fullScreen() ? 'true' : 'false');
    save({ open: open });
    if (open) {
      scrollToEnd(true);
      if (!restoring) (ui.input.disabled ? ui.hide : ui.input).focus();
    } else if (ui.window.contains(document.activeElement) || document.activeElement === document.body) {
      ui.launcher.focus();
    }
  }

  function nearEnd() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
  }
  function scrollToEnd(force) {
    if (force || nearEnd()) ui.log.scrollTop = ui.log.scrollHeight;
  }
  function append(node) {
    var stick = nearEnd();
    ui.log.appendChild(node);
    scrollToEnd(stick);
  }

  // ---------------------------------------------------------------- messages

  function safeUrl(u) {
    try {
      var p = new URL(String(u));
      return p.protocol === 'http:' || p.protocol === 'https:' ? p.href : null;
    } catch (e) { return null; }
  }

  /** The shop's privacy notice (privacy_url): an http(s) address or a path starting with one
   * "/"; anything else (javascript:, data:, "//host", empty, not a string) is ignored. */
  function privacyHref(u) {
    if (typeof u !== 'string') return null;
    u = u.trim();
    if (u.indexOf('https://') === 0 || u.indexOf('http://') === 0) return u;
    if (u.charAt(0) === '/' && u.charAt(1) !== '/' && u.charAt(1) !== '\\') return u; // "//host" is not a path
    return null;
  }

  /** Shows the privacy notice link under the composer, or hides it when there is none. */
  function setPrivacy(u) {
    var href = privacyHref(u);
    if (href) ui.privacy.setAttribute('href', href);
    else ui.privacy.removeAttribute('href');
    ui.legal.hidden = !href;
  }

  function bubble(role) {
    role = ['customer', 'assistant', 'staff', 'system'].indexOf(role) >= 0 ? role : 'system';
    var text = el('p', { className: 'concord-msg-text', 'data-concord': 'text' });
    var author = el('span', { className: 'concord-msg-author', text: T.authors[role] });
    var node = el('div', {
      className: 'concord-msg concord-msg--' + role, 'data-concord': 'message', 'data-role': role
    }, [author, text]);
    node._text = text;
    node._author = author;
    return node;
  }

  /** Completes a bubble from a message object: id, text, sources, thumbs. */
  function fill(node, m) {
    node._text.textContent = String(m.text || '');
    if (m.author && node.getAttribute('data-role') === 'staff') {
      node._author.textContent = T.authors.staff + ' \u00b7 ' + String(m.author);
    }
    node.removeAttribute('data-provisional');
    node.removeAttribute('aria-busy');
    if (m.id !== undefined && m.id !== null) {
      node.setAttribute('data-message-id', String(m.id));
      markSeen(m.id, node);
    }
    var old = node.querySelector('.concord-sources, .concord-feedback');
    while (old) { old.parentNode.removeChild(old); old = node.querySelector('.concord-sources, .concord-feedback'); }
    if (Array.isArray(m.sources) && m.sources.length) {
      var list = el('ul', { className: 'concord-sources-list' });
      m.sources.forEach(function (s) {
        if (!s) return;
        var title = String(s.title || s.url || '');
        var href = s.url ? safeUrl(s.url) : null;
        list.appendChild(el('li', null, [href
          ? el('a', { href: href, target: '_blank', rel: 'noopener noreferrer', text: title })
          : el('span', { text: title })]));
      });
      node.appendChild(el('div', { className: 'concord-sources', 'data-concord': 'sources' },
        [el('span', { className: 'concord-sources-label', text: T.sources }), list]));
    }
    var role = node.getAttribute('data-role');
    if ((role === 'assistant' || role === 'staff') && m.id !== undefined && m.id !== null) {
      node.appendChild(thumbs(m.id));
    }
    return node;
  }

  function thumbs(id) {
    var up = el('button', {
      type: 'button', className: 'concord-thumb', 'data-concord': 'thumb-up', 'aria-pressed': 'false',
      'aria-label': T.thumbUp, title: T.thumbUp
    }, [icon('thumb', 'concord-thumb-icon')]);
    var down = el('button', {
      type: 'button', className: 'concord-thumb concord-thumb--down', 'data-concord': 'thumb-down',
      'aria-pressed': 'false', 'aria-label': T.thumbDown, title: T.thumbDown
    }, [icon('thumb', 'concord-thumb-icon')]);
    var note = el('span', { className: 'concord-thumb-note', 'aria-live': 'polite' });
    function rate(thumb, btn, other) {
      api('POST', convPath('/feedback'), { message_id: id, thumb: thumb }).then(function () {
        btn.setAttribute('aria-pressed', 'true');
        other.setAttribute('aria-pressed', 'false');
        note.textContent = T.thumbThanks;
      }, function (e) { note.textContent = errorText(e && e.code); });
    }
    up.addEventListener('click', function () { rate('up', up, down); });
    down.addEventListener('click', function () { rate('down', down, up); });
    return el('div', { className: 'concord-feedback' }, [up, down, note]);
  }

  function markSeen(id, node) {
    id = Number(id);
    if (!isFinite(id)) return;
    state.seen[id] = node;
    if (id > state.lastId) state.lastId = id;
  }

  /** Renders a message object (history, events stream, handoff) unless it is already shown;
   * `live`: it arrives now, so a person's first reply is preceded by "a person has joined". */
  function showMessage(m, live) {
    if (!m || m.id === undefined || m.id === null) return;
    if (state.seen[Number(m.id)]) return;
    if (live && m.role === 'staff' && state.status !== 'staff' && state.status !== 'closed') {
      setStatus('staff', true);
    }
    if (m.role === 'customer') {
      // our own message may come back on the events stream before `accepted` names it
      var pending = ui.log.querySelector('.concord-msg--customer:not([data-message-id])');
      if (pending && pending._text.textContent === String(m.text || '')) { fill(pending, m); return; }
    }
    if (m.role === 'assistant' && state.provisional) {
      // the answer being streamed, stored and delivered on the events stream first
      var p = state.provisional;
      state.provisional = null;
      fill(p, m);
      return;
    }
    append(fill(bubble(m.role), m));
  }

  function notice(text, kind) {
    var n = el('p', { className: 'concord-notice' + (kind ? ' concord-notice--' + kind : ''),
      'data-concord': 'notice', text: text });
    append(n);
    return n;
  }

  // ---------------------------------------------------------------- status

  function setStatus(status, announce) {
    var prev = state.status;
    state.status = status;
    var closed = status === 'closed';
    ui.input.disabled = closed;
    ui.footer.hidden = closed;
    ui.send.disabled = closed || state.sending;
    ui.human.hidden = closed || status === 'waiting_staff' || status === 'staff';
    ui.end.hidden = closed || !state.conv;
    ui.newChat.hidden = !state.conv; // also when closed: the survey need not be answered first
    if (announce && prev !== status) {
      if (status === 'staff') notice(T.joined, 'joined');
      if (status === 'closed') notice(T.closed);
    }
    if (closed && prev !== 'closed') { stopEvents(); showCsat(); }
    if (status === 'waiting_staff') offerEmail();
    renderStatus();
  }

  /** Once a person is needed: the offer to leave an e-mail address for the reply, with the
   * shop's consent text (only when the shop sends replies by e-mail). */
  function offerEmail() {
    if (!state.conv || state.emailOffered) return;
    state.emailOffered = true;
    var conv = state.conv;
    api('GET', convPath('/contact')).then(json).then(function (r) {
      if (!r || !r.offered || state.conv !== conv) return; // "New conversation" meanwhile
      var box = el('form', { className: 'concord-email', 'data-concord': 'email', novalidate: true });
      var note = el('p', { className: 'concord-email-note', 'aria-live': 'polite' });
      function saved(address) {
        while (box.firstChild) box.removeChild(box.firstChild);
        note.textContent = T.emailSaved(address);
        var remove = el('button', { type: 'button', className: 'concord-email-remove', text: T.emailRemove });
        remove.addEventListener('click', function () {
          api('DELETE', convPath('/contact')).then(function () {
            box.removeChild(remove);
            note.textContent = T.emailRemoved;
          }, function (e) { note.textContent = errorText(e && e.code); });
        });
        box.appendChild(note);
        box.appendChild(remove);
      }
      if (r.email) { saved(r.email); append(box); return; }
      var inputId = 'concord-email-' + state.conv.id;
      var consentId = inputId + '-consent';
      var input = el('input', { type: 'email', id: inputId, name: 'email', autocomplete: 'email',
        maxlength: 254, required: true, className: 'concord-email-input' });
      var consent = el('input', { type: 'checkbox', id: consentId, name: 'consent' });
      box.appendChild(el('p', { className: 'concord-email-offer', text: T.emailOffer }));
      box.appendChild(el('label', { 'for': inputId, text: T.emailLabel }));
      box.appendChild(input);
      box.appendChild(el('div', { className: 'concord-email-consent' }, [
        consent, el('label', { 'for': consentId, text: String(r.consent_text || '') })]));
      box.appendChild(el('button', { type: 'submit', className: 'concord-email-save', text: T.emailSave }));
      box.appendChild(note);
      box.addEventListener('submit', function (ev) {
        ev.preventDefault();
        if (!consent.checked) { note.textContent = T.emailConsentNeeded; return; }
        api('POST', convPath('/contact'), { email: input.value, consent: true }).then(json).then(function (x) {
          saved(x.email);
        }, function (e) {
          note.textContent = e && e.code === 'invalid_request' ? T.emailInvalid : errorText(e && e.code);
        });
      });
      append(box);
    }, function () { if (state.conv === conv) state.emailOffered = false; });
  }

  function setTransient(text) { state.transient = text || ''; renderStatus(); }

  function renderStatus() {
    var base = '';
    if (state.status === 'waiting_staff') base = T.waiting;
    else if (state.status === 'staff') base = T.withStaff;
    ui.status.textContent = state.transient || base;
  }

  // ---------------------------------------------------------------- conversation

  function ensureConversation() {
    if (state.conv) return Promise.resolve(state.conv);
    var body = { lang: LANG };
    if (Object.keys(CONTEXT).length) body.context = CONTEXT;
    return api('POST', '/api/conversations', body).then(json).then(function (r) {
      state.conv = { id: r.conversation_id, token: r.token };
      save({ conversation_id: r.conversation_id, token: r.token });
      setPrivacy(r.privacy_url);
      setStatus(r.status || 'bot', false);
      startEvents();
      return state.conv;
    });
  }

  function forget() {
    stopEvents();
    state.conv = null;
    state.seen = {};
    state.lastId = 0;
    state.csatDone = false;
    state.askNps = null;
    state.transient = '';
    unsave(['conversation_id', 'token']);
  }

  /** Drops the answer being streamed, if any: its request is aborted and whatever still arrives
   * for it is ignored, so nothing of the old conversation reaches the fresh view. */
  function cancelSending() {
    state.sendGen++;
    if (state.sendCtrl) { try { state.sendCtrl.abort(); } catch (e) { /* already ended */ } }
    state.sendCtrl = null;
    state.sending = false;
    state.provisional = null;
    ui.log.removeAttribute('aria-busy');
  }

  /** Header "New conversation", for shared devices: after a confirmation the conversation is
   * forgotten on this device only (nothing is sent to the server) and the widget is as on a
   * first visit, so the next message starts a new conversation. */
  function newConversation() {
    if (!state.conv || !window.confirm(T.newChatConfirm)) return;
    cancelSending();
    forget();
    resetView();
    ui.input.value = ''; // a draft belongs to the previous person too
    ui.human.disabled = false;
    ui.end.disabled = false;
    ui.input.focus();
  }

  function resetView() {
    state.emailOffered = false;
    while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
    ui.log.appendChild(ui.intro);
    ui.csat.hidden = true;
    while (ui.csat.firstChild) ui.csat.removeChild(ui.csat.firstChild);
    setStatus('bot', false);
  }

  /** On load with a stored conversation: history, then the events stream. A stored conversation
   * that is gone (401/404: token expired, erased, purged) is forgotten silently. */
  function restore(attempt) {
    var conv = state.conv;
    api('GET', convPath('')).then(json).then(function (c) {
      if (state.conv !== conv) return; // "New conversation" meanwhile
      setPrivacy(c.privacy_url);
      (c.messages || []).forEach(function (m) { showMessage(m, false); });
      state.csatDone = recorded(c.csat) || recorded(c.resolved) || recorded(c.nps);
      state.askNps = c.ask_nps === true;
      setStatus(c.status || 'bot', false);
      if (c.status !== 'closed') startEvents();
    }, function (e) {
      if (state.conv !== conv) return;
      if (isGone(e)) { forget(); resetView(); return; }
      var gen = state.eventsGen;
      setTimeout(function () {
        if (state.conv && gen === state.eventsGen) restore(attempt + 1);
      }, BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]);
    });
  }

  // ---------------------------------------------------------------- sending

  function submit() {
    var text = ui.input.value.trim();
    if (!text || state.sending || state.status === 'closed') return;
    ui.input.value = '';
    send(text);
  }

  /** Sends one customer message and follows its answer stream. `retried`: the stored
   * conversation was gone and this is the one retry in a fresh conversation. */
  function send(text, retried) {
    var gen = state.sendGen;
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    state.sendCtrl = ctrl;
    state.sending = true;
    ui.send.disabled = true;
    ui.log.setAttribute('aria-busy', 'true'); // screen readers hear the final answer, not each token
    var mine = bubble('customer');
    mine._text.textContent = text;
    append(mine);
    setTransient(T.sending);
    state.provisional = null;
    var accepted = false;
    var ended = false;

    function dropProvisional() {
      var p = state.provisional;
      if (p && p.parentNode) p.parentNode.removeChild(p);
      state.provisional = null;
    }
    function onEvent(ev) {
      if (gen !== state.sendGen) return; // "New conversation": this answer is not shown any more
      var d = parseJson(ev.data) || {};
      switch (ev.event) {
        case 'accepted':
          accepted = true;
          if (d.message_id !== undefined && d.message_id !== null) {
            var twin = state.seen[Number(d.message_id)]; // came back on the events stream first
            if (twin && twin !== mine && twin.parentNode) twin.parentNode.removeChild(twin);
            mine.setAttribute('data-message-id', String(d.message_id));
            markSeen(d.message_id, mine);
          }
          setTransient(T.typing);
          break;
        case 'queued':
          setTransient(T.queue(Math.max(1, Number(d.position) || 1)));
          break;
        case 'started':
          setTransient(T.typing);
          break;
        case 'token':
          if (!state.provisional) {
            state.provisional = bubble('assistant');
            state.provisional.setAttribute('data-provisional', 'true');
            append(state.provisional);
          }
          var stick = nearEnd();
          state.provisional._text.appendChild(document.createTextNode(String(d.text || '')));
          scrollToEnd(stick);
          break;
        case 'final':
          ended = true;
          setTransient('');
          finalAnswer({ id: d.message_id, role: d.role || 'assistant', text: d.text, sources: d.sources });
          break;
        case 'handoff':
          ended = true;
          dropProvisional();
          setTransient('');
          if (d.text) finalAnswer({ id: d.message_id, role: 'system', text: d.text });
          if (state.status !== 'staff') setStatus('waiting_staff', false);
          break;
        case 'error':
          ended = true;
          dropProvisional();
          setTransient('');
          notice(errorText(d.code), 'error');
          if (d.code === 'conversation_closed') setStatus('closed', true);
          break;
        default:
          break; // unknown events are ignored: the API may grow
      }
    }
    /** The message the customer keeps: it REPLACES the provisional bubble's streamed text. */
    function finalAnswer(m) {
      var hasId = m.id !== undefined && m.id !== null;
      if (hasId && state.seen[Number(m.id)]) { dropProvisional(); return; } // came on the events stream first
      var stick = nearEnd();
      var p = state.provisional;
      var node = p && p.getAttribute('data-role') === m.role ? p : null;
      if (!node) { dropProvisional(); node = bubble(m.role); ui.log.appendChild(node); }
      state.provisional = null;
      fill(node, m);
      scrollToEnd(stick);
      if (m.role === 'system') offerEmail(); // held or unanswered: a person will reply
    }
    function done() {
      if (state.sendCtrl === ctrl) state.sendCtrl = null;
      state.sending = false;
      ui.log.removeAttribute('aria-busy');
      ui.send.disabled = state.status === 'closed';
    }

    ensureConversation().then(function () {
      return api('POST', convPath('/messages'), { text: text },
        { accept: 'text/event-stream', signal: ctrl ? ctrl.signal : undefined });
    }).then(function (res) {
      return readSse(res, onEvent);
    }).then(function () {
      if (gen !== state.sendGen) return; // cancelSending() has reset what done() would
      dropProvisional();
      setTransient('');
      if (!ended && accepted) notice(T.pending); // cut off: the answer comes on the events stream
      done();
    }, function (e) {
      if (gen !== state.sendGen) return; // aborted by "New conversation": nothing to tell
      dropProvisional();
      setTransient('');
      var code = (e && e.code) || 'network';
      if (!accepted && mine.parentNode) mine.parentNode.removeChild(mine); // nothing was stored
      done();
      if (isGone(e) && !accepted) {
        forget();
        resetView();
        if (!retried) { send(text, true); return; }
      }
      if (accepted) { notice(T.pending); return; }
      if (!ui.input.value) ui.input.value = text; // give the text back to the customer
      notice(errorText(code), 'error');
      if (code === 'conversation_closed') setStatus('closed', true);
    });
  }

  function askForPerson() {
    ui.human.disabled = true;
    var conv = null;
    ensureConversation().then(function (c) {
      conv = c;
      return api('POST', convPath('/handoff'), {});
    }).then(json).then(function (r) {
      if (state.conv !== conv) return; // "New conversation" meanwhile
      if (r.message) showMessage(r.message);
      setStatus(r.status || 'waiting_staff', false);
    }, function (e) {
      if (conv && state.conv !== conv) return;
      if (isGone(e)) { forget(); resetView(); notice(T.errors.expired, 'error'); return; }
      notice(errorText(e && e.code), 'error');
    }).then(function () { ui.human.disabled = false; });
  }

  function endConversation() {
    if (!state.conv) return;
    ui.end.disabled = true;
    var conv = state.conv;
    api('POST', convPath('/close'), {}).then(function () {
      if (state.conv !== conv) return; // "New conversation" meanwhile
      setStatus('closed', true);
      var first = ui.csat.querySelector('button');
      if (first) first.focus();
    }, function (e) {
      if (state.conv !== conv) return;
      if (isGone(e)) { forget(); resetView(); return; }
      notice(errorText(e && e.code), 'error');
    }).then(function () { ui.end.disabled = false; });
  }

  // ---------------------------------------------------------------- satisfaction survey

  /** A row of toggle buttons in a role=group labelled by the question `qid`: a click presses
   * that button, releases the others and calls onPick(value). specs: [{value, attrs}]. */
  function choiceGroup(className, qid, specs, onPick) {
    var group = el('div', { className: className, role: 'group', 'aria-labelledby': qid });
    var buttons = [];
    specs.forEach(function (s) {
      var attrs = { type: 'button', 'aria-pressed': 'false' };
      Object.keys(s.attrs).forEach(function (k) { attrs[k] = s.attrs[k]; });
      var b = el('button', attrs);
      b.addEventListener('click', function () {
        buttons.forEach(function (o) { o.setAttribute('aria-pressed', o === b ? 'true' : 'false'); });
        onPick(s.value);
      });
      buttons.push(b);
      group.appendChild(b);
    });
    return group;
  }

  /** The end-of-conversation survey: resolved yes/no, CSAT 1-5, NPS 0-10 when the shop asks
   * for it, a comment. Every answer is optional; Send needs at least one of the three. */
  function showCsat() {
    while (ui.csat.firstChild) ui.csat.removeChild(ui.csat.firstChild);
    ui.csat.hidden = false;
    if (state.csatDone || !state.conv) { csatThanks(state.csatDone); return; }
    var resolved = null, chosen = 0, nps = null;
    var hint = el('p', { className: 'concord-csat-hint', 'aria-live': 'polite' });
    function picked() { hint.textContent = ''; }

    var resolvedQ = 'concord-resolved-q';
    var yesNo = choiceGroup('concord-survey-yesno', resolvedQ, [
      { value: true, attrs: { className: 'concord-survey-btn', 'data-concord': 'resolved-yes', text: T.resolvedYes } },
      { value: false, attrs: { className: 'concord-survey-btn', 'data-concord': 'resolved-no', text: T.resolvedNo } }
    ], function (v) { resolved = v; picked(); });

    var qid = 'concord-csat-q';
    var group = choiceGroup('concord-csat-scale', qid, [1, 2, 3, 4, 5].map(function (n) {
      return { value: n, attrs: {
        className: 'concord-csat-btn', 'data-csat': String(n),
        'aria-label': T.csatRate(n, T.csatScale[n - 1]), title: T.csatScale[n - 1], text: String(n)
      } };
    }), function (v) { chosen = v; picked(); });

    // NPS: filled in only when the shop asks for it (known from GET, else asked for below)
    var npsBox = el('div', { className: 'concord-nps', 'data-concord': 'nps', hidden: true });
    function showNps() {
      var npsQ = 'concord-nps-q', legendId = 'concord-nps-legend';
      var specs = [];
      for (var n = 0; n <= 10; n++) {
        specs.push({ value: n, attrs: {
          className: 'concord-nps-btn', 'data-nps': String(n), 'aria-label': T.npsRate(n), text: String(n)
        } });
      }
      var scale = choiceGroup('concord-nps-scale', npsQ, specs, function (v) { nps = v; picked(); });
      scale.setAttribute('aria-describedby', legendId);
      npsBox.appendChild(el('p', { className: 'concord-csat-q', id: npsQ, text: T.npsQuestion }));
      npsBox.appendChild(scale);
      npsBox.appendChild(el('p', { className: 'concord-nps-legend', id: legendId, text: T.npsLegend }));
      npsBox.hidden = false;
    }
    if (state.askNps) showNps();
    else if (state.askNps === null) {
      var conv = state.conv; // a conversation started on this page: ask_nps is not known yet
      api('GET', convPath('')).then(json).then(function (c) {
        if (state.conv !== conv) return;
        state.askNps = !!(c && c.ask_nps === true);
        if (state.askNps && npsBox.parentNode === ui.csat && !npsBox.firstChild) showNps();
      }, function () { /* the survey goes on without the NPS question */ });
    }

    var comment = el('textarea', {
      className: 'concord-csat-comment', id: 'concord-csat-comment', rows: '2', maxlength: '1000'
    });
    var sendBtn = el('button', { type: 'button', className: 'concord-send', 'data-concord': 'csat-send', text: T.csatSend });
    var skip = el('button', { type: 'button', className: 'concord-link-btn', 'data-concord': 'csat-skip', text: T.csatSkip });
    sendBtn.addEventListener('click', function () {
      var body = {};
      if (resolved !== null) body.resolved = resolved;
      if (chosen) body.csat = chosen;
      if (nps !== null) body.nps = nps;
      if (!Object.keys(body).length) { hint.textContent = T.csatPick; yesNo.firstChild.focus(); return; }
      var c = comment.value.trim();
      if (c) body.comment = c;
      sendBtn.disabled = true;
      api('POST', convPath('/feedback'), body).then(function () {
        state.csatDone = true;
        csatThanks(true);
      }, function (e) {
        hint.textContent = errorText(e && e.code);
        sendBtn.disabled = false;
      });
    });
    skip.addEventListener('click', function () { csatThanks(false); });
    [
      el('p', { className: 'concord-csat-q', id: resolvedQ, text: T.resolvedQuestion }),
      yesNo,
      el('p', { className: 'concord-csat-q', id: qid, text: T.csatQuestion }),
      group,
      npsBox,
      el('label', { className: 'concord-csat-label', for: 'concord-csat-comment', text: T.csatComment }),
      comment, hint,
      el('div', { className: 'concord-csat-actions' }, [sendBtn, skip])
    ].forEach(function (n) { ui.csat.appendChild(n); });
    scrollToEnd(true);
  }

  function csatThanks(rated) {
    while (ui.csat.firstChild) ui.csat.removeChild(ui.csat.firstChild);
    var again = el('button', { type: 'button', className: 'concord-send', 'data-concord': 'new', text: T.newChat });
    again.addEventListener('click', function () {
      forget();
      resetView();
      ui.input.focus();
    });
    if (rated) ui.csat.appendChild(el('p', { className: 'concord-csat-thanks', role: 'status', text: T.thanks }));
    ui.csat.appendChild(again);
    if (ui.window.contains(document.activeElement)) again.focus();
  }

  // ---------------------------------------------------------------- events stream

  function stopEvents() {
    state.eventsGen++;
    if (state.eventsCtrl) { try { state.eventsCtrl.abort(); } catch (e) { /* already ended */ } }
    state.eventsCtrl = null;
  }

  function startEvents() {
    stopEvents();
    var gen = state.eventsGen;
    var attempt = 0;
    function alive() { return gen === state.eventsGen && state.conv && state.status !== 'closed'; }
    function again() {
      if (!alive()) return;
      var delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt++;
      setTimeout(loop, delay);
    }
    function loop() {
      if (!alive()) return;
      var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
      state.eventsCtrl = ctrl;
      api('GET', convPath('/events?after=' + state.lastId), undefined,
        { accept: 'text/event-stream', signal: ctrl ? ctrl.signal : undefined }).then(function (res) {
        return readSse(res, function (ev) {
          if (gen !== state.eventsGen) return;
          attempt = 0; // the stream delivers: the next reconnect starts again from 1 s
          var d = parseJson(ev.data);
          if (!d) return;
          if (ev.event === 'message') {
            if (d.id === undefined && ev.id) d.id = Number(ev.id);
            showMessage(d, true);
          } else if (ev.event === 'status' && d.status) {
            setStatus(d.status, true);
          }
        }, function () { if (gen === state.eventsGen) attempt = 0; });
      }).then(again, function (e) {
        if (e && e.name === 'AbortError') return;
        if (isGone(e)) { if (gen === state.eventsGen) { forget(); resetView(); } return; }
        again();
      });
    }
    loop();
  }

  // ---------------------------------------------------------------- start

  function start() {
    build();
    var stored = load();
    if (stored.conversation_id && stored.token) {
      state.conv = { id: String(stored.conversation_id), token: String(stored.token) };
      setStatus('bot', false);
      restore(0);
    } else {
      setStatus('bot', false);
    }
    document.body.appendChild(ui.root);
    if (stored.open) setOpen(true, true);
    window.ConcordWidget.open = function () { setOpen(true); };
    window.ConcordWidget.close = function () { setOpen(false); };
  }

  function withStylesheet(then) {
    var href = SERVER + '/widget.css';
    var done = false;
    function go() { if (!done) { done = true; then(); } }
    var existing = document.querySelector('link[data-concord="css"]');
    if (existing) { go(); return; }
    var link = el('link', { rel: 'stylesheet', href: href, 'data-concord': 'css' });
    link.addEventListener('load', go);
    link.addEventListener('error', go);
    setTimeout(go, 3000);
    document.head.appendChild(link);
  }

  function boot() { withStylesheet(start); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();

  // exposed for the project's own tests of the parser (no other global)
  window.ConcordWidget.SseParser = SseParser;
})();
