"""A workbook written by another program, the way a team's own after-sales log looks when Excel saved it.

Unlike `kakosheet init --sample`, nothing here comes from kakosheet's template: xlsxwriter writes
the Cases, Orders and Suppliers tabs with their English header labels (taken from the schemas
when the book is written), strings in the shared-string table as Excel keeps them, dates as
real date cells, and no engine column at all, so that a first sync adds the columns and
assigns every ID. Choice cells hold the English labels people pick from a dropdown.

The data is deterministic for a given seed and `now`: a few hundred distinct descriptions and
product names, a few dozen suppliers with different after-sales rates, unique order numbers
and tracking numbers, open and closed cases over six months, and order volumes that give the
supplier scorecard its denominators.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import xlsxwriter

from kakosheet.sample import status_for_age
from kakosheet.schema import Field, schemas

MONTHS = 6
CITIES = [
    "Shenzhen", "Guangzhou", "Yiwu", "Dongguan", "Ningbo", "Hangzhou", "Putian", "Quanzhou", "Xiamen", "Foshan",
    "Shantou", "Wenzhou", "Suzhou", "Qingdao", "Jinjiang", "Changsha",
]
TRADES = [
    "Textile Co., Ltd.", "Footwear Co.", "Electronics Ltd.", "Bags & Luggage", "Home Deco", "Toys Factory", "Garment Co.",
    "Accessories Trading", "Watch Co.", "Sports Goods",
]
CHINESE_SUPPLIERS = ["义乌华美饰品厂", "泉州恒达鞋业", "深圳智联数码", "东莞精工五金", "常熟羽绒服厂", "佛山灯饰", "杭州丝路服饰", "汕头玩具城"]
SUPPLIER_COUNT = 36
CARRIERS = {  # name -> how its tracking numbers look
    "YunExpress": "YT{:016d}", "4PX": "4PX{:013d}CN", "Cainiao": "LP{:014d}", "DHL eCommerce": "GM{:016d}",
    "SF International": "SF{:013d}", "China Post / EMS": "LX{:09d}CN", "Yanwen": "UG{:09d}YP", "Wanb Express": "WNB{:012d}",
}
WAREHOUSES = ["Guangzhou WH", "Yiwu WH", "Shenzhen WH", "Putian WH", "深圳仓"]
REGIONS = ["US", "UK", "DE", "FR", "AU", "CA", "JP", "BR", "ES", "IT", "NL", "PL", "MX", "SA"]
OWNERS = ["Li Wei", "王芳", "Maria Gomez", "陈杰", "Tom Baker", "张敏", "Priya Nair", "刘洋", "Jonas Weber", "赵雪", "Ana Souza", "黄磊"]
COLOURS = ["Black", "White", "Navy", "Grey", "Red", "Beige", "Olive", "Pink", "Brown", "Sky blue", "Burgundy", "Khaki", "Silver", "Gold", "Green"]
ITEMS = [  # (name, product category, size range)
    ("running shoes", "shoes", [str(s) for s in range(36, 46)]), ("canvas sneakers", "shoes", [str(s) for s in range(35, 45)]),
    ("hoodie", "apparel", ["S", "M", "L", "XL", "XXL"]), ("denim jacket", "apparel", ["S", "M", "L", "XL"]),
    ("down jacket", "apparel", ["S", "M", "L", "XL"]), ("T-shirt", "apparel", ["S", "M", "L", "XL", "XXL"]),
    ("leather wallet", "bags", ["one size"]), ("backpack", "bags", ["20L", "30L"]), ("tote bag", "bags", ["one size"]),
    ("wireless earbuds", "electronics", ["one size"]), ("phone case", "electronics", ["iPhone 15", "iPhone 16", "Galaxy S24"]),
    ("power bank", "electronics", ["10000mAh", "20000mAh"]), ("quartz watch", "watches", ["38mm", "42mm"]),
    ("silk scarf", "accessories", ["one size"]), ("sunglasses", "accessories", ["one size"]), ("plush toy", "toys", ["20cm", "40cm"]),
    ("LED desk lamp", "home", ["EU plug", "US plug", "UK plug"]), ("throw pillow cover", "home", ["45x45", "50x50"]),
    ("yoga mat", "sports", ["6mm", "10mm"]), ("cycling gloves", "sports", ["S", "M", "L"]),
]
DESCRIPTIONS = {  # problem type -> phrasings, each completed by one of DETAILS
    "quality_defect": ["Stitching coming apart", "Colour differs from the approved sample", "Sole separating", "Zip stuck", "Print faded after one wash", "质量问题，做工粗糙"],
    "damaged": ["Outer carton crushed, item scratched", "Item broken on arrival", "外箱破损", "Packaging wet, item stained"],
    "wrong_item": ["Wrong size sent", "Wrong colour sent", "Different model sent", "错发商品"],
    "quantity_short": ["Fewer units than ordered", "One piece missing from the set", "少发件数"],
    "lost": ["No tracking scan since hand-over", "Carrier confirms parcel lost", "物流显示丢件"],
    "delayed": ["Stuck at the sorting hub", "Later than the promised delivery date", "比承诺时效晚"],
    "undeliverable": ["Customer refused the parcel", "Address cannot be reached, returned", "地址无法投递"],
    "false_signoff": ["Marked delivered, customer has nothing", "显示已签收但客户未收到"],
    "tracking_anomaly": ["Tracking not updated for a week", "Tracking shows another country", "物流信息停滞"],
    "out_of_stock": ["Supplier out of stock for this size", "Colour discontinued by the supplier", "供应商缺货"],
    "info_error": ["Wrong phone number on the order", "House number missing from the address", "收件地址填写错误"],
    "system_failure": ["Order not pushed to the warehouse system", "Label printing failed", "系统未同步订单"],
    "special_request": ["Customer asks for gift wrapping", "Customer asks for express delivery", "客户要求加急"],
    "customs_hold": ["Held at customs for the invoice", "Customs asks for the importer's tax ID", "海关查验扣留"],
}
DETAILS = ["", " (2nd time this month)", ", photos attached", ", customer angry", ", same batch as last week", " - see chat log", ", urgent"]
DETECTED = {  # problem type -> where it is found (keys of the detected_at choices)
    "quality_defect": ["warehouse_receiving", "after_delivery"], "damaged": ["warehouse_receiving", "in_transit", "delivery", "after_delivery"],
    "wrong_item": ["warehouse_receiving", "after_delivery"], "quantity_short": ["warehouse_receiving", "after_delivery"],
    "lost": ["in_transit"], "delayed": ["in_transit", "customs"], "undeliverable": ["delivery"], "false_signoff": ["delivery"],
    "tracking_anomaly": ["in_transit"], "out_of_stock": ["order_processing"], "info_error": ["order_processing"],
    "system_failure": ["order_processing"], "special_request": ["order_processing"], "customs_hold": ["customs"],
}
CATEGORY_WEIGHTS = {
    "quality_defect": 30, "damaged": 18, "wrong_item": 10, "quantity_short": 8, "lost": 4, "delayed": 8, "undeliverable": 3,
    "false_signoff": 2, "tracking_anomaly": 4, "out_of_stock": 5, "info_error": 3, "system_failure": 1, "special_request": 2,
    "customs_hold": 2,
}
PRIORITY_WEIGHTS = {"urgent": 5, "high": 15, "normal": 50, "low": 10}
NOT_SHIPPED = {"out_of_stock", "info_error", "system_failure", "special_request"}  # found before a parcel left
FEEDBACK = ["Satisfied", "满意", "Accepted partial refund", "OK", "Not happy with the delay", "已确认收货"]
RESOLUTION = ["Refunded", "已补发", "Supplier replaced the batch", "Partial refund agreed", "Reshipped by express", "Claim paid by carrier"]
SUPPLIER_RESPONSE = ["Accepted, will replace", "同意退货", "Disputes the photos", "Will credit next invoice", "已安排补发"]
DATE_FORMAT = "yyyy-mm-dd hh:mm"
MONTH_FORMAT = "yyyy-mm"


def suppliers(rng: random.Random) -> list[str]:
    """A few dozen supplier names, some in Chinese."""
    english = sorted({f"{city} {trade}" for city in CITIES for trade in TRADES})
    names = rng.sample(english, SUPPLIER_COUNT - len(CHINESE_SUPPLIERS)) + CHINESE_SUPPLIERS
    rng.shuffle(names)
    return names


def _labels(field: Field) -> dict[str, str]:
    """Choice key -> the English label a person picks from the dropdown."""
    return {c.key: c.en for c in field.choices}


def case_rows(cases: int, seed: int, now: datetime) -> tuple[list[dict[str, Any]], dict[str, float], list[str]]:
    """The Cases rows by field key (choices as English labels), each supplier's after-sales rate, the periods."""
    rng = random.Random(seed)
    fields = schemas()["cases"].by_key
    label = {key: _labels(f) for key, f in fields.items() if f.type == "choice"}
    names = suppliers(rng)
    rates = {s: rng.lognormvariate(-4.0, 0.45) for s in names}
    for s in rng.sample(names, k=4):
        rates[s] *= 3  # a few clearly worse suppliers
    now = now.replace(tzinfo=None, second=0, microsecond=0)
    months = [(now.year + (now.month - 1 - k) // 12, (now.month - 1 - k) % 12 + 1) for k in reversed(range(MONTHS))]
    periods = [f"{y:04d}-{m:02d}" for y, m in months]
    first = datetime(*months[0], 1)
    span = int((now - timedelta(hours=1) - first).total_seconds() // 60)

    products = [(f"{colour} {item}", category, sizes, f"{i:02d}{j:02d}") for i, (item, category, sizes) in enumerate(ITEMS) for j, colour in enumerate(COLOURS)]
    descriptions = {cat: [base + detail for base in bases for detail in DETAILS] for cat, bases in DESCRIPTIONS.items()}
    categories = [c for c in CATEGORY_WEIGHTS if c in label["category"]]
    order_nos = rng.sample(range(10**9), cases)
    tracking = rng.sample(range(10**9), cases)
    supplier_of = rng.choices(names, weights=[rates[s] for s in names], k=cases)
    category_of = rng.choices(categories, weights=[CATEGORY_WEIGHTS[c] for c in categories], k=cases)
    # A long tail: a few products and phrasings come up again and again, most rarely.
    product_of = rng.choices(products, cum_weights=_zipf(len(products)), k=cases)
    minutes = sorted(rng.randrange(span) for _ in range(cases))  # a log grows in time order
    carriers = list(CARRIERS)
    priorities = [None, *label["priority"].values()]
    priority_weights = [20] + [PRIORITY_WEIGHTS.get(key, 5) for key in label["priority"]]

    rows = []
    for i in range(cases):
        reported = first + timedelta(minutes=minutes[i])
        category = category_of[i]
        status = status_for_age(rng, (now - reported).days)
        name, product_category, sizes, code = product_of[i]
        carrier = rng.choice(carriers) if category not in NOT_SHIPPED else None
        pool = descriptions[category]
        row: dict[str, Any] = {
            "reported_at": reported,
            "source": label["source"].get(rng.choice(["qc_inspection", "warehouse", "customer", "carrier"])),
            "detected_at": label["detected_at"].get(rng.choice(DETECTED[category])),
            "order_no": f"SO{reported:%y%m}{order_nos[i]:09d}",
            "item_sku": f"KB-{code}-{rng.choice(sizes).replace(' ', '').upper()}",
            "product_name": name,
            "product_category": product_category,
            "qty_affected": rng.choice([1, 1, 1, 1, 2, 2, 3, 5, 10, 20]),
            "supplier": supplier_of[i],
            "carrier": carrier,
            "tracking_no": CARRIERS[carrier].format(tracking[i]) if carrier else None,
            "warehouse": rng.choice(WAREHOUSES),
            "region": rng.choice(REGIONS),
            "category": label["category"][category],
            "priority": rng.choices(priorities, weights=priority_weights)[0],
            "description": pool[min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)],
            "evidence_links": f"https://drive.example.com/qc/{reported:%Y%m}/{order_nos[i]:09d}.jpg" if rng.random() < 0.4 else None,
            "status": label["status"][status],
            "owner": rng.choice(OWNERS),
        }
        if category == "damaged":
            row["packaging_damaged"] = label["packaging_damaged"].get(rng.choice(["yes", "no"]))
        if status != "reported" and rng.random() < 0.6:
            row["responsible_party"] = label["responsible_party"].get(rng.choice(["supplier", "supplier", "carrier", "warehouse", "customer"]))
        if status in ("plan_agreed", "in_progress", "completed", "closed"):
            row["disposition"] = label["disposition"].get(rng.choice(["return_to_supplier", "reship", "refund", "partial_refund", "replace", "compensate"]))
            row["claim_amount"] = round(rng.uniform(3, 450), 2)
            row["currency"] = rng.choice(["USD", "USD", "CNY", "EUR"])
            if rng.random() < 0.5:
                row["supplier_response"] = rng.choice(SUPPLIER_RESPONSE)
        if status == "closed":
            row["customer_feedback"] = rng.choice(FEEDBACK)
            row["resolution_notes"] = rng.choice(RESOLUTION)
        rows.append({k: v for k, v in row.items() if k in fields and v is not None})
    return rows, rates, periods


def _zipf(n: int) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / rank
        out.append(total)
    return out


def order_rows(rows: list[dict[str, Any]], rates: dict[str, float], periods: list[str], seed: int) -> list[dict[str, Any]]:
    """Orders per supplier and month, so that each supplier's cases / orders is about its rate."""
    rng = random.Random(seed + 1)
    counts = Counter((r["supplier"], f"{r['reported_at']:%Y-%m}") for r in rows)
    out = []
    for supplier, rate in rates.items():
        for period in periods:
            orders = max(20, round(counts[supplier, period] / rate * rng.uniform(0.85, 1.15)))
            out.append({"supplier": supplier, "period": datetime.strptime(period, "%Y-%m"), "orders": orders, "units": orders * rng.randint(1, 3)})
    return out


def write_book(path: str, cases: int, seed: int, now: datetime) -> dict[str, int]:
    """Write the workbook to `path`; the number of rows of each tab."""
    rows, rates, periods = case_rows(cases, seed, now)
    orders = order_rows(rows, rates, periods, seed)
    rng = random.Random(seed + 2)
    master = [
        {"supplier": s, "contact_email": f"aftersales{k:02d}@supplier{k:02d}.example.com", "region": "CN", "owner": rng.choice(OWNERS)}
        for k, s in enumerate(rates, start=1)
    ]
    tabs = schemas()
    wb = xlsxwriter.Workbook(path)  # not constant_memory: strings go to the shared-string table, as Excel writes them
    formats = {
        "header": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}),
        "datetime": wb.add_format({"num_format": DATE_FORMAT}),
        "period": wb.add_format({"num_format": MONTH_FORMAT}),
        "number": wb.add_format({"num_format": "#,##0.00"}),
        "int": wb.add_format({"num_format": "0"}),
    }
    for key, records in (("cases", rows), ("orders", orders), ("suppliers", master)):
        _write_tab(wb, tabs[key].name_en, tabs[key].user_fields, records, formats)
    wb.close()
    return {"cases": len(rows), "orders": len(orders), "suppliers": len(master)}


def _write_tab(wb: Any, name: str, fields: tuple[Field, ...], records: list[dict[str, Any]], formats: dict[str, Any]) -> None:
    ws = wb.add_worksheet(name)
    for col, f in enumerate(fields):
        ws.write_string(0, col, f.label_en, formats["header"])
        ws.set_column(col, col, 22 if f.type in ("datetime", "text") else 14)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(records), 1), len(fields) - 1)
    for r, record in enumerate(records, start=1):
        for col, f in enumerate(fields):
            value = record.get(f.key)
            if value is None:
                continue
            if isinstance(value, datetime):
                ws.write_datetime(r, col, value, formats["period" if f.type == "period" else "datetime"])
            elif isinstance(value, (int, float)):
                ws.write_number(r, col, value, formats.get(f.type))
            else:
                ws.write_string(r, col, value)
