#!/usr/bin/env python3
"""Sample sales CSV: the workload of the CSV import tests, benchmarks and demo.

A business's export of paid sales, deterministic for a seed (Python's standard library only):

  sales_csv.py --rows 50000 --seed 1 > sales.csv      # the file
  sales_csv.py --rows 50000 --seed 1 --expect         # {"rows", "valid", "errors", "duplicates"}

Columns `date,customer_phone,amount,description`. What real exports look like:
  - dates `YYYY-MM-DD HH:MM:SS` in the business's local time (January to November 2025);
  - phones of Russian mobiles (+7 9xx) in eight spellings: +7XXXXXXXXXX, 7XXXXXXXXXX,
    8XXXXXXXXXX, `8 (AAA) BBB-CC-DD`, `+7 AAA BBB CC DD`, `8-AAA-BBB-CC-DD`, `+7(AAA)BBBCCDD`,
    `8 AAA BBB-CC-DD`; seven sales in ten come from a customer seen before;
  - amounts (1 to 50,000 roubles, whole roubles in six sales of ten) in eight spellings: `1500`
    (whole roubles only), `1500.50`, `1500,50`, `1,500.50` and grouped by ' ', '.', U+00A0 or
    U+202F with a ',' decimal separator;
  - a description in nine sales of ten, some with a comma, quotes or a line break (quoted).
Bad rows (--error-rate, 2% by default), each of one of five kinds: a phone that is none (too
short, too long, words), an amount that is none (letters, negative, zero, two points, empty), a
date that is none (another format, month 13, 31 November, a word), no phone, no date.
Duplicates (--dup-rate, 1%): an earlier good sale again with other phone and amount spellings, so
only a dedup on normalized values (time, E.164 phone, minor units) recognises it.

--expect counts: `valid` rows import, `errors` rows are reported and skipped, `duplicates` are
skipped as already stored. Importing the same file again imports nothing.
"""
import argparse
import json
import random
import sys

DESCRIPTIONS = ("Стрижка", "Процедура", "Маникюр", "Консультация врача", "Кофе и круассан",
                "Чистка лица", "Массаж спины", "Окрашивание", "Бизнес-ланч", "Анализ крови",
                'Набор "Уход", 2 шт.', "Пилинг\nкомплекс")

BAD_PHONES = ("12345", "+7999123", "not a phone", "+7 999 123 45 67 89")
BAD_AMOUNTS = ("abc", "-500", "0", "12.34.56", "")
BAD_DATES = ("17/11/2025 14:30", "2025-13-01 10:00:00", "yesterday", "2025-11-31 10:00:00")


def spell_phone(rng, national):
    """One of the eight spellings of a 10-digit national number."""
    a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
    spellings = (
        "+7" + national,
        "7" + national,
        "8" + national,
        f"8 ({a}) {b}-{c}-{d}",
        f"+7 {a} {b} {c} {d}",
        f"8-{a}-{b}-{c}-{d}",
        f"+7({a}){b}{c}{d}",
        f"8 {a} {b}-{c}-{d}",
    )
    return spellings[rng.randrange(len(spellings))]


def group_thousands(number, separator):
    digits = str(number)
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def spell_amount(rng, kopecks):
    """One of the spellings of an amount in kopecks; whole roubles only when there are none."""
    roubles, cents = divmod(kopecks, 100)
    fraction = f"{cents:02d}"
    spellings = [
        f"{roubles}.{fraction}",
        f"{roubles},{fraction}",
        group_thousands(roubles, ",") + "." + fraction,
    ] + [group_thousands(roubles, sep) + "," + fraction for sep in (" ", ".", "\u00a0", "\u202f")]
    if cents == 0:
        spellings.append(str(roubles))
    return spellings[rng.randrange(len(spellings))]


def local_time(rng, month=None):
    month = month or rng.randint(1, 11)
    return (f"2025-{month:02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")


class Workload:
    def __init__(self, seed, error_rate, dup_rate):
        self.rng = random.Random(seed)
        self.error_rate = error_rate
        self.dup_rate = dup_rate
        self.customers = []  # national numbers of the customers so far
        self.sales = []      # (date, national, kopecks, description) of every good row
        self.counts = {"valid": 0, "errors": 0, "duplicates": 0}

    def row(self):
        draw = self.rng.random()
        if draw < self.dup_rate and self.sales:
            self.counts["duplicates"] += 1
            return self.repeated_sale()
        if draw < self.dup_rate + self.error_rate:
            self.counts["errors"] += 1
            return self.bad_row()
        self.counts["valid"] += 1
        return self.sale()

    def sale(self):
        rng = self.rng
        if self.customers and rng.random() < 0.7:
            national = rng.choice(self.customers)
        else:
            national = "9" + "".join(rng.choice("0123456789") for _ in range(9))
            self.customers.append(national)
        whole = rng.random() < 0.6
        kopecks = rng.randint(100, 5_000_000) * (100 if whole else 1)
        date = local_time(rng)
        description = rng.choice(DESCRIPTIONS) if rng.random() < 0.9 else ""
        self.sales.append((date, national, kopecks, description))
        return [date, spell_phone(rng, national), spell_amount(rng, kopecks), description]

    def repeated_sale(self):
        date, national, kopecks, description = self.rng.choice(self.sales)
        return [date, spell_phone(self.rng, national), spell_amount(self.rng, kopecks), description]

    def bad_row(self):
        rng = self.rng
        date = local_time(rng, month=11)
        phone = "+79" + "".join(rng.choice("0123456789") for _ in range(9))
        amount = str(rng.randint(100, 50_000))
        kind = rng.randrange(5)
        if kind == 0:
            phone = rng.choice(BAD_PHONES)
        elif kind == 1:
            amount = rng.choice(BAD_AMOUNTS)
        elif kind == 2:
            date = rng.choice(BAD_DATES)
        elif kind == 3:
            phone = ""
        else:
            date = ""
        return [date, phone, amount, rng.choice(DESCRIPTIONS)]


def csv_cell(text):
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--error-rate", type=float, default=0.02)
    parser.add_argument("--dup-rate", type=float, default=0.01)
    parser.add_argument("--expect", action="store_true",
                        help="print the expected counts as JSON instead of the file")
    args = parser.parse_args()
    if args.rows < 0 or not 0 <= args.error_rate + args.dup_rate <= 1:
        parser.error("--rows must be >= 0 and the rates must add up to at most 1")

    workload = Workload(args.seed, args.error_rate, args.dup_rate)
    out = sys.stdout
    out.reconfigure(encoding="utf-8")  # whatever the locale
    if not args.expect:
        out.write("date,customer_phone,amount,description\n")
    for _ in range(args.rows):
        cells = workload.row()
        if not args.expect:
            out.write(",".join(csv_cell(cell) for cell in cells) + "\n")
    if args.expect:
        print(json.dumps({"rows": args.rows, **workload.counts}))


if __name__ == "__main__":
    main()
