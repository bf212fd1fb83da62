# The Concord console: every string staff read (Fluent, https://projectfluent.org).
# The keys are the same as in pl.ftl; a test fails on a missing key.

## Shared
brand = Concord console
nav-queue = Review queue
nav-stats = Stats
nav-knowledge = Knowledge
signed-in-as = { $name } ({ $role })
sign-out = Sign out
back-to-queue = ← Review queue
done = Done: { $what }.
none = none
role-customer = customer
role-assistant = assistant
role-staff = staff
role-system = note
status-bot = assistant
status-waiting_staff = waiting for a person
status-staff = with a person
status-closed = closed
prov-canonical = approved answer
prov-generated = model draft
prov-human = person
prov-system = fixed message
action-send = draft sent
action-send_canonical = approved answer sent
action-hold = held
action-handoff = handed off
action-no_answer = no answer
review-none = not reviewed
review-pending = pending
review-approved = approved
review-edited = edited
review-rejected = rejected
kind-held = held
kind-copilot = copilot
kind-handoff = handoff
kind-blocked = blocked

## Sign-in
login-title = Sign in
login-name = Name
login-password = Password
login-submit = Sign in

## Error
error-title = That did not work
error-back = Back to the review queue

## Queue
queue-title = Review queue
queue-pending = { $count } pending
queue-waiting = { $count } waiting
queue-col-why = Why
queue-col-question = Question
queue-col-checker = Checker
queue-col-canonical = Approved answer
queue-col-waiting = Waiting
queue-customer-waits = customer waits
queue-empty = Nothing waits for review.
queue-people = Conversations with a person
queue-col-status = Status
queue-col-last-question = Last question
queue-no-question = (no question)
queue-people-empty = No conversation waits for a person.
queue-live = Live: updated { $time }
queue-reconnecting = Reconnecting… the list may be out of date.
waited-now = just now
waited-minutes = { $minutes } min
waited-hours = { $hours } h { $minutes } min
waited-days = { $days } d { $hours } h

## An item
item-title = Item { $id }
item-conversation = Conversation
item-decision = Decision
item-canonical = approved answer
item-similarity = similarity { $value }
item-review = review
item-reviewed-by = by { $name }
item-draft = Draft
item-draft-meta = ({ $model }, checker: { $verdict })
item-no-draft = No draft was written.
item-findings = Findings
item-finding = finding { $n }: { $kind }
item-approved-answer = Approved answer
item-no-canonical = No approved answer matched.
item-customer-got = What the customer was sent
item-sent-after-review = Sent after review
item-sources = Retrieved sources
item-passage = Passage { $n }
item-decide = Decide
item-approve = Approve and send
item-approve-blocked = Mark the draft as fine (nothing is sent)
item-reply-as-person = Reply as a person
item-edit-and-send = Edit and send
item-send = Send
item-reject-label = Reject (nothing is sent{ $waits ->
    [yes] ; the conversation waits for a person
   *[no] {""}
})
item-reject-placeholder = Why?
item-reject = Reject
item-save-title = Save as canonical
item-save-intro = The answer becomes an approved answer in the knowledge files and is used from the next question on. This customer's name and order are turned back into slots.
item-save-update = Update the approved answer (empty: a new one)
item-save-phrasings = More phrasings of the question, one per line (the customer's is added)
item-save-answer = Answer
item-save-submit = Preview

## A conversation
conversation-title = Conversation { $id }
conversation-status = Status
conversation-started = started { $at }
conversation-csat = CSAT { $score }/5
conversation-reply-label = Reply as a person (the customer sees it at once; the assistant stays quiet)
conversation-reply = Send reply
conversation-close = Close the conversation

## Knowledge
knowledge-title = Knowledge
knowledge-serving = Serving { $articles ->
    [one] { $articles } article
   *[other] { $articles } articles
} ({ $passages } passages) and { $canonicals ->
    [one] { $canonicals } approved answer
   *[other] { $canonicals } approved answers
} from { $dir }, indexed { $at }.
knowledge-reload = Reload the knowledge base
knowledge-note = Edits to the files are indexed incrementally and served without a restart; approved answers whose sources changed are checked again below.
knowledge-report = Report { $id }
knowledge-report-by = { $at } by { $actor }
knowledge-stale = Stale approved answers ({ $stale } of { $checked } checked again)
knowledge-stale-none = None: every approved answer checked again still agrees with its sources.
knowledge-col-canonical = Approved answer
knowledge-col-sources = Changed sources
knowledge-col-findings = What the new articles say against it
knowledge-col-lost = Phrasings that no longer reach it
knowledge-no-canonical = no approved answer
knowledge-report-summary = { $articles } articles, { $canonicals } approved answers; { $embedded } passages embedded, { $reused } reused; { $seconds } s.
knowledge-changed = Changed articles: { $list }.
knowledge-removed = Removed: { $list }.
knowledge-changed-canonicals = Approved answers added or edited: { $list }.
knowledge-skipped = Skipped files:

## Stats
stats-title = Stats
stats-from = From
stats-to = To
stats-show = Show
stats-conversations = { $count ->
    [one] conversation
   *[other] conversations
}
stats-automated = answered automatically
stats-handed-off = handed off
stats-held = held for staff
stats-first-response = median first response
stats-csat = CSAT average ({ $count })
stats-blocked = blocked drafts
stats-top = Top questions
stats-col-question = Question (latest wording)
stats-col-canonical = Approved answer
stats-col-asked = Asked
stats-col-consistent = Answered consistently
stats-consistent-note = Consistently: sent as the approved answer, or as a draft the checker found consistent with it; for questions without an approved answer, decided the most frequent way.
stats-no-questions = No questions in this period.
chart-decisions = How customer messages were answered
chart-findings = Blocked drafts by finding kind
chart-csat = CSAT scores
chart-unit-messages = messages
chart-unit-drafts = drafts
chart-unit-conversations = conversations
chart-no-data = no data
chart-automated = Answered automatically
chart-as-draft = as a checked draft
chart-as-canonical = as the approved answer
chart-held = Held for staff
chart-handoff = Handed off
chart-no-answer = No answer

## Navigation, language
nav-conversations = Conversations
nav-gaps = Knowledge gaps
lang-label = Language
lang-default = default
lang-save = Change
any = any
page-prev = ← Newer
page-next = Older →

## Conversations
conversations-title = Conversations
conversations-search = Search
conversations-search-hint = words from the messages, e.g. parcel return
conversations-status = Status
conversations-decision = Decision
conversations-rating = Rating
conversations-find = Search
conversations-col-question = First question
conversations-col-decisions = Decisions
conversations-col-rating = Rating
conversations-col-updated = Last change
conversations-messages = { $count ->
    [one] { $count } message
   *[other] { $count } messages
}
conversations-thumbs-down = { $count ->
    [one] { $count } thumbs down
   *[other] { $count } thumbs down
}
conversations-none = No conversation matches these conditions.
rating-low = low rating (1–2)
rating-high = high rating (4–5)
rating-thumbs_down = thumbs down
rating-unresolved = not resolved

## Customer feedback (conversation page)
feedback-title = Customer feedback
feedback-resolved = Did this solve the problem?
feedback-yes = yes
feedback-no = no
feedback-resolved-short-yes = resolved
feedback-resolved-short-no = not resolved
feedback-csat = Conversation rating
feedback-comment = Comment
feedback-nps = Would recommend us (NPS)
feedback-thumbs = Answer ratings
feedback-thumbs-count = up: { $up }, down: { $down }
feedback-thumb-up = 👍 helpful
feedback-thumb-down = 👎 unhelpful
feedback-none = The customer left no feedback.

## Knowledge gaps
gaps-title = Knowledge gaps
gaps-intro = Questions of the last { $days ->
    [one] { $days } day
   *[other] { $days } days
} the assistant did not answer, held for a check, or whose answer the customer rated thumbs down — grouped by the article they are about.
gaps-days = Last days
gaps-no-article = No matching article
gaps-questions = { $count ->
    [one] { $count } question
   *[other] { $count } questions
}
gaps-col-question = Question
gaps-col-why = Why here
gaps-open-item = open for review
gaps-open-conversation = conversation
gaps-write = Write an approved answer
gaps-write-questions = Questions (one per line)
gaps-write-answer = Approved answer
gaps-write-save = Preview
gaps-none = No gaps in this period: every question got an answer without reservations.

## Service stats
stats-csv = Download CSV (daily)
stats-service = Service
stats-fcr-confirmed = resolved at first contact (confirmed)
stats-fcr-total = resolved at first contact (with assumed)
stats-resolved = of customers confirm it was solved ({ $count })
stats-nps = NPS ({ $count })
stats-to-person = median time to a person ({ $count })
stats-still-waiting = still waiting for a person
stats-fcr-note = Confirmed: the customer answered "yes" to "Did this solve your problem?" and no person was needed. Assumed: the customer did not answer, but the assistant answered alone, with no hold, handoff, unanswered question or thumbs down.
chart-to-person = Time to a person after a handoff or hold
chart-under-1h = under 1 h
chart-1-4h = 1–4 h
chart-over-4h = over 4 h
chart-still-waiting = still waiting
chart-daily = Conversations per day
chart-daily-shares = Share of conversations per day
chart-day-of-range = day of the period
chart-series-automated = automated
chart-series-person = with a person
chart-series-resolved = confirmed resolved
queue-undelivered = { $count ->
    [one] { $count } notification to { $target } was not delivered
   *[other] { $count } notifications to { $target } were not delivered
} despite retries — check the address and credentials in the configuration.

## Personal data (GDPR)
privacy-title = The customer's personal data
privacy-export = Download all data of this conversation (JSON, for the customer's access request)
privacy-erase-confirm = I understand the erasure cannot be undone (the conversation, messages, ratings, notifications and its questions in approved answers)
privacy-erase = Erase this conversation's data
privacy-erased = The customer's data was erased; the audit log keeps only who erased it and when.

## Save as canonical: the preview
preview-title = Check before saving
preview-new = A new approved answer, { $id }, in
preview-update = Updates the approved answer { $id } in
preview-cut = Personal data cut from the questions (it does not go into the knowledge base):
preview-answer-personal = The answer holds personal data and cannot be saved: remove it, or write a slot such as {"{{"}customer_name{"}}"} or {"{{"}order_id{"}}"}, then preview again.
preview-phrasings-after = { $count ->
    [one] After saving the answer has { $count } phrasing:
   *[other] After saving the answer has { $count } phrasings:
}
preview-questions = Questions added (one per line)
preview-answer = Answer, as every customer will get it
preview-again = Preview again
preview-save = Save and reload the knowledge base
pii-email = e-mail address
pii-phone = phone number
pii-order_number = order number
pii-postal_code = postal code
pii-street = street
pii-name = name

## The team (admins)
nav-team = Team
team-title = Team
team-intro = Customers never see sign-in names: a person's messages show the display name set here, or only "Staff" without one.
team-col-name = Sign-in name
team-col-role = Role
team-col-display = Name customers see
team-role-admin = administrator
team-role-agent = agent
team-display-label = Display name of { $name }
team-display-none = (only "Staff")
team-save = Save
team-saved = Saved: what customers see for { $name }.
team-note = Accounts are created, and their role or password changed, with `concord staff add` on the server; every change here is in the audit log.
