# Konsola Concord: wszystkie teksty dla personelu (Fluent, https://projectfluent.org).
# Klucze są takie same w en.ftl; test nie przepuści brakującego klucza.

## Wspólne
brand = Konsola Concord
nav-queue = Kolejka
nav-stats = Statystyki
nav-knowledge = Baza wiedzy
signed-in-as = { $name } ({ $role ->
    [admin] administrator
   *[agent] konsultant
})
sign-out = Wyloguj
back-to-queue = ← Kolejka
done = Gotowe: { $what }.
none = brak
role-customer = klient
role-assistant = asystent
role-staff = konsultant
role-system = informacja
status-bot = asystent
status-waiting_staff = czeka na konsultanta
status-staff = z konsultantem
status-closed = zakończona
prov-canonical = zatwierdzona odpowiedź
prov-generated = szkic modelu
prov-human = człowiek
prov-system = komunikat stały
action-send = wysłany szkic
action-send_canonical = wysłana zatwierdzona odpowiedź
action-hold = wstrzymana
action-handoff = przekazana konsultantowi
action-no_answer = brak odpowiedzi
review-none = bez przeglądu
review-pending = czeka
review-approved = zatwierdzona
review-edited = poprawiona
review-rejected = odrzucona
kind-held = wstrzymana
kind-copilot = do zatwierdzenia
kind-handoff = przekazana
kind-blocked = zablokowany szkic

## Logowanie
login-title = Logowanie
login-name = Nazwa
login-password = Hasło
login-submit = Zaloguj

## Błąd
error-title = Nie udało się
error-back = Wróć do kolejki

## Kolejka
queue-title = Kolejka
queue-pending = { $count ->
    [one] { $count } czeka na sprawdzenie
    [few] { $count } czekają na sprawdzenie
   *[many] { $count } czeka na sprawdzenie
}
queue-waiting = { $count ->
    [one] { $count } rozmowa czeka
    [few] { $count } rozmowy czekają
   *[many] { $count } rozmów czeka
}
queue-col-why = Powód
queue-col-question = Pytanie
queue-col-checker = Weryfikator
queue-col-canonical = Zatwierdzona odpowiedź
queue-col-waiting = Czeka
queue-customer-waits = klient czeka
queue-empty = Nic nie czeka na sprawdzenie.
queue-people = Rozmowy z konsultantem
queue-col-status = Status
queue-col-last-question = Ostatnie pytanie
queue-no-question = (bez pytania)
queue-people-empty = Żadna rozmowa nie czeka na konsultanta.
queue-live = Na żywo: zaktualizowano { $time }
queue-reconnecting = Łączę ponownie… lista może być nieaktualna.
waited-now = przed chwilą
waited-minutes = { $minutes } min
waited-hours = { $hours } godz. { $minutes } min
waited-days = { $days ->
    [one] { $days } dzień
   *[other] { $days } dni
} { $hours } godz.

## Pozycja kolejki
item-title = Pozycja { $id }
item-conversation = Rozmowa
item-decision = Decyzja
item-canonical = zatwierdzona odpowiedź
item-similarity = podobieństwo { $value }
item-review = przegląd
item-reviewed-by = przez { $name }
item-draft = Szkic
item-draft-meta = ({ $model }, weryfikator: { $verdict })
item-no-draft = Szkic nie powstał.
item-findings = Uwagi weryfikatora
item-finding = uwaga { $n }: { $kind }
item-approved-answer = Zatwierdzona odpowiedź
item-no-canonical = Nie dopasowano zatwierdzonej odpowiedzi.
item-customer-got = Co dostał klient
item-sent-after-review = Wysłano po przeglądzie
item-sources = Znalezione źródła
item-passage = Fragment { $n }
item-decide = Decyzja
item-approve = Zatwierdź i wyślij
item-approve-blocked = Szkic jest w porządku (nic nie zostanie wysłane)
item-reply-as-person = Odpowiedz jako konsultant
item-edit-and-send = Popraw i wyślij
item-send = Wyślij
item-reject-label = Odrzuć (nic nie zostanie wysłane{ $waits ->
    [yes] ; rozmowa czeka na konsultanta
   *[no] {""}
})
item-reject-placeholder = Dlaczego?
item-reject = Odrzuć
item-save-title = Zapisz jako zatwierdzoną odpowiedź
item-save-intro = Odpowiedź trafi do plików bazy wiedzy jako zatwierdzona i będzie używana od następnego pytania. Imię i zamówienie tego klienta zostaną zamienione z powrotem na pola do uzupełnienia.
item-save-update = Zaktualizuj zatwierdzoną odpowiedź (puste: nowa)
item-save-phrasings = Inne sformułowania pytania, po jednym w wierszu (pytanie klienta jest dodawane)
item-save-answer = Odpowiedź
item-save-submit = Podgląd przed zapisaniem

## Rozmowa
conversation-title = Rozmowa { $id }
conversation-status = Status
conversation-started = rozpoczęta { $at }
conversation-csat = ocena { $score }/5
conversation-reply-label = Odpowiedz jako konsultant (klient zobaczy to od razu; asystent przestaje odpowiadać)
conversation-reply = Wyślij odpowiedź
conversation-close = Zakończ rozmowę

## Baza wiedzy
knowledge-title = Baza wiedzy
knowledge-serving = Obsługujemy { $articles ->
    [one] { $articles } artykuł
    [few] { $articles } artykuły
   *[many] { $articles } artykułów
} ({ $passages } fragmentów) i { $canonicals ->
    [one] { $canonicals } zatwierdzoną odpowiedź
    [few] { $canonicals } zatwierdzone odpowiedzi
   *[many] { $canonicals } zatwierdzonych odpowiedzi
} z { $dir }, zaindeksowane { $at }.
knowledge-reload = Wczytaj bazę wiedzy ponownie
knowledge-note = Zmiany w plikach są indeksowane przyrostowo i obsługiwane bez restartu; zatwierdzone odpowiedzi, których źródła się zmieniły, są sprawdzane ponownie poniżej.
knowledge-report = Raport { $id }
knowledge-report-by = { $at }, { $actor }
knowledge-stale = Nieaktualne zatwierdzone odpowiedzi ({ $stale } z { $checked } sprawdzonych ponownie)
knowledge-stale-none = Brak: każda ponownie sprawdzona zatwierdzona odpowiedź zgadza się ze źródłami.
knowledge-col-canonical = Zatwierdzona odpowiedź
knowledge-col-sources = Zmienione źródła
knowledge-col-findings = Co nowe artykuły mówią wbrew niej
knowledge-col-lost = Sformułowania, które już do niej nie trafiają
knowledge-no-canonical = brak zatwierdzonej odpowiedzi
knowledge-report-summary = Artykuły: { $articles }, zatwierdzone odpowiedzi: { $canonicals }; osadzone fragmenty: { $embedded }, użyte ponownie: { $reused }; { $seconds } s.
knowledge-changed = Zmienione artykuły: { $list }.
knowledge-removed = Usunięte: { $list }.
knowledge-changed-canonicals = Dodane lub zmienione zatwierdzone odpowiedzi: { $list }.
knowledge-skipped = Pominięte pliki:

## Statystyki
stats-title = Statystyki
stats-from = Od
stats-to = Do
stats-show = Pokaż
stats-conversations = { $count ->
    [one] rozmowa
    [few] rozmowy
   *[many] rozmów
}
stats-automated = odpowiedzi automatycznych
stats-handed-off = przekazanych konsultantowi
stats-held = wstrzymanych do sprawdzenia
stats-first-response = mediana pierwszej odpowiedzi
stats-csat = średnia ocena ({ $count })
stats-blocked = zablokowanych szkiców
stats-top = Najczęstsze pytania
stats-col-question = Pytanie (ostatnie brzmienie)
stats-col-canonical = Zatwierdzona odpowiedź
stats-col-asked = Zadane
stats-col-consistent = Odpowiedziano spójnie
stats-consistent-note = Spójnie: wysłano zatwierdzoną odpowiedź albo szkic zgodny z nią według weryfikatora; dla pytań bez zatwierdzonej odpowiedzi: rozstrzygnięto tak jak najczęściej.
stats-no-questions = Brak pytań w tym okresie.
chart-decisions = Jak odpowiedziano na wiadomości klientów
chart-findings = Zablokowane szkice według rodzaju uwagi
chart-csat = Oceny rozmów
# Skróty: jednostka stoi po liczbie w każdej odmianie („1 rozm.”, „5 rozm.”).
chart-unit-messages = wiad.
chart-unit-drafts = szk.
chart-unit-conversations = rozm.
chart-no-data = brak danych
chart-automated = Automatycznie
chart-as-draft = jako sprawdzony szkic
chart-as-canonical = jako zatwierdzona odpowiedź
chart-held = Wstrzymane
chart-handoff = Przekazane
chart-no-answer = Bez odpowiedzi

## Nawigacja, język
nav-conversations = Rozmowy
nav-gaps = Luki w wiedzy
lang-label = Język
lang-default = domyślny
lang-save = Zmień
any = dowolny
page-prev = ← Nowsze
page-next = Starsze →

## Rozmowy
conversations-title = Rozmowy
conversations-search = Szukaj
conversations-search-hint = słowa z wiadomości, np. zwrot paczki
conversations-status = Stan
conversations-decision = Decyzja
conversations-rating = Ocena
conversations-find = Szukaj
conversations-col-question = Pierwsze pytanie
conversations-col-decisions = Decyzje
conversations-col-rating = Ocena
conversations-col-updated = Ostatnia zmiana
conversations-messages = { $count ->
    [one] { $count } wiadomość
    [few] { $count } wiadomości
   *[many] { $count } wiadomości
}
conversations-thumbs-down = { $count ->
    [one] { $count } łapka w dół
    [few] { $count } łapki w dół
   *[many] { $count } łapek w dół
}
conversations-none = Żadna rozmowa nie pasuje do tych warunków.
rating-low = niska ocena (1–2)
rating-high = wysoka ocena (4–5)
rating-thumbs_down = łapka w dół
rating-unresolved = sprawa nierozwiązana

## Opinia klienta (strona rozmowy)
feedback-title = Opinia klienta
feedback-resolved = Czy to rozwiązało sprawę?
feedback-yes = tak
feedback-no = nie
feedback-resolved-short-yes = rozwiązana
feedback-resolved-short-no = nierozwiązana
feedback-csat = Ocena rozmowy
feedback-comment = Komentarz
feedback-nps = Poleciłby nas (NPS)
feedback-thumbs = Oceny odpowiedzi
feedback-thumbs-count = w górę: { $up }, w dół: { $down }
feedback-thumb-up = 👍 pomocna
feedback-thumb-down = 👎 niepomocna
feedback-none = Klient nie zostawił opinii.

## Luki w wiedzy
gaps-title = Luki w wiedzy
gaps-intro = Pytania z ostatnich { $days ->
    [one] { $days } dnia
   *[other] { $days } dni
}, na które asystent nie odpowiedział, które wstrzymał do sprawdzenia albo których odpowiedź klient ocenił łapką w dół — pogrupowane według artykułu, którego dotyczą.
gaps-days = Ostatnie dni
gaps-no-article = Bez pasującego artykułu
gaps-questions = { $count ->
    [one] { $count } pytanie
    [few] { $count } pytania
   *[many] { $count } pytań
}
gaps-col-question = Pytanie
gaps-col-why = Dlaczego tutaj
gaps-open-item = otwórz do przeglądu
gaps-open-conversation = rozmowa
gaps-write = Napisz zatwierdzoną odpowiedź
gaps-write-questions = Pytania (jedno w wierszu)
gaps-write-answer = Zatwierdzona odpowiedź
gaps-write-save = Podgląd przed zapisaniem
gaps-none = Brak luk w tym okresie: każde pytanie dostało odpowiedź bez zastrzeżeń.

## Statystyki obsługi
stats-csv = Pobierz CSV (dziennie)
stats-service = Obsługa
stats-fcr-confirmed = rozwiązanych przy pierwszym kontakcie (potwierdzone)
stats-fcr-total = rozwiązanych przy pierwszym kontakcie (z zakładanymi)
stats-resolved = klientów potwierdza rozwiązanie ({ $count })
stats-nps = NPS ({ $count })
stats-to-person = mediana czasu do konsultanta ({ $count })
stats-still-waiting = wciąż czeka na konsultanta
stats-fcr-note = Potwierdzone: klient odpowiedział „tak” na pytanie „Czy to rozwiązało Twoją sprawę?”, a konsultant nie był potrzebny. Zakładane: klient nie odpowiedział, ale asystent odpowiedział sam, bez wstrzymania, przekazania, pytania bez odpowiedzi i łapki w dół.
chart-to-person = Czas do konsultanta po przekazaniu lub wstrzymaniu
chart-under-1h = poniżej 1 h
chart-1-4h = 1–4 h
chart-over-4h = powyżej 4 h
chart-still-waiting = wciąż czeka
chart-daily = Rozmowy dziennie
chart-daily-shares = Udział rozmów dziennie
chart-day-of-range = dzień okresu
chart-series-automated = automatycznie
chart-series-person = z konsultantem
chart-series-resolved = potwierdzone rozwiązanie
queue-undelivered = { $count ->
    [one] { $count } powiadomienie do { $target } nie zostało dostarczone
    [few] { $count } powiadomienia do { $target } nie zostały dostarczone
   *[many] { $count } powiadomień do { $target } nie zostało dostarczonych
} mimo ponawiania — sprawdź adres i dane logowania w konfiguracji.

## Dane osobowe (RODO)
privacy-title = Dane osobowe klienta
privacy-export = Pobierz wszystkie dane tej rozmowy (JSON, na wniosek klienta o dostęp)
privacy-erase-confirm = Rozumiem, że usunięcia nie można cofnąć (rozmowa, wiadomości, oceny, powiadomienia i jej pytania w zatwierdzonych odpowiedziach)
privacy-erase = Usuń dane tej rozmowy
privacy-erased = Dane klienta zostały usunięte; w dzienniku zdarzeń zostaje tylko informacja, kto i kiedy je usunął.

## Zapis jako zatwierdzona odpowiedź: podgląd
preview-title = Sprawdź przed zapisaniem
preview-new = Nowa zatwierdzona odpowiedź, { $id }, w pliku
preview-update = Aktualizuje zatwierdzoną odpowiedź { $id } w pliku
preview-cut = Dane osobowe usunięte z pytań (nie trafią do bazy wiedzy):
preview-answer-personal = Odpowiedź zawiera dane osobowe i nie może zostać zapisana: usuń je albo wpisz pole, np. {"{{"}customer_name{"}}"} lub {"{{"}order_id{"}}"}, i ponownie wyświetl podgląd.
preview-phrasings-after = { $count ->
    [one] Po zapisaniu odpowiedź ma { $count } sformułowanie pytania:
    [few] Po zapisaniu odpowiedź ma { $count } sformułowania pytania:
   *[many] Po zapisaniu odpowiedź ma { $count } sformułowań pytania:
}
preview-questions = Dodawane pytania (jedno w wierszu)
preview-answer = Odpowiedź, jaką dostanie każdy klient
preview-again = Pokaż podgląd ponownie
preview-save = Zapisz i przeładuj bazę wiedzy
pii-email = adres e-mail
pii-phone = numer telefonu
pii-order_number = numer zamówienia
pii-postal_code = kod pocztowy
pii-street = ulica
pii-name = imię i nazwisko

## Zespół (administratorzy)
nav-team = Zespół
team-title = Zespół
team-intro = Klienci nigdy nie widzą nazw logowania: przy wiadomościach osoby widać nazwę wyświetlaną ustawioną tutaj, a bez niej tylko „Konsultant”.
team-col-name = Nazwa logowania
team-col-role = Rola
team-col-display = Nazwa widoczna dla klientów
team-role-admin = administrator
team-role-agent = konsultant
team-display-label = Nazwa wyświetlana osoby { $name }
team-display-none = (tylko „Konsultant”)
team-save = Zapisz
team-saved = Zapisano: nazwa widoczna dla klientów dla { $name }.
team-note = Konta tworzy się, a ich rolę lub hasło zmienia, poleceniem `concord staff add` na serwerze; każda zmiana tutaj trafia do dziennika audytu.
