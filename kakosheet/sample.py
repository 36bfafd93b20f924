"""Realistic sample data for a new workbook: deterministic for a given seed and `now`.

A few dozen suppliers with very different defect rates, several carriers, warehouses and
regions, every problem type, open and closed cases (some overdue at `now`), order volumes for
the same suppliers and months, and a few rows with the mistakes purchasers really make.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from .schema import schemas

SUPPLIERS = [
    "Shenzhen Bright Textile", "义乌华美饰品厂", "Guangzhou Lucky Shoes", "Dongguan Apex Electronics",
    "杭州丝路服饰", "Ningbo Ocean Bags", "Putian Stride Sneakers", "泉州恒达鞋业", "Xiamen Pearl Watches",
    "Foshan Home Deco", "汕头玩具城", "Quanzhou Sport Gear", "Wenzhou Leather Works", "苏州婚纱坊",
    "Shanghai Star Cosmetics", "深圳智联数码", "Yiwu Party Supplies", "Hangzhou Tea & Co", "广州潮牌工厂",
    "Jinjiang Run Apparel", "Changsha Crafts", "佛山灯饰", "Tianjin Bike Parts", "Qingdao Denim Mill",
    "东莞精工五金", "Chengdu Plush Toys", "Fuzhou Umbrella Co", "常熟羽绒服厂", "Suzhou Silk House",
    "Xuchang Hair Products", "Anxi Tea Garden", "Kunshan Cable Co",
]
CARRIERS = ["YunExpress", "4PX", "Cainiao", "DHL eCommerce", "顺丰国际", "EMS", "Yanwen"]
REGIONS = ["US", "UK", "DE", "FR", "AU", "CA", "JP", "BR", "ES", "IT"]
WAREHOUSES = ["Guangzhou WH", "Yiwu WH", "深圳仓", "Putian WH"]
OWNERS = ["Li Wei", "王芳", "Maria Gomez", "陈杰", "Tom Baker", "张敏"]
PRODUCTS = [
    ("Running shoes", "shoes"), ("连帽卫衣", "apparel"), ("Leather wallet", "bags"), ("Wireless earbuds", "electronics"),
    ("丝巾", "accessories"), ("Denim jacket", "apparel"), ("Quartz watch", "watches"), ("Backpack", "bags"),
    ("毛绒玩具", "toys"), ("LED desk lamp", "home"), ("Phone case", "electronics"), ("羽绒服", "apparel"),
]
DESCRIPTIONS = {
    "quality_defect": ["Stitching coming apart on the left seam", "鞋底开胶，左脚明显", "Colour differs from the approved sample", "拉链卡顿无法拉合"],
    "damaged": ["Box crushed, item scratched", "外箱破损，商品有划痕", "Glass face cracked on arrival", "包装完好但商品断裂"],
    "wrong_item": ["Received size 42 instead of 40", "颜色发错，订的黑色收到白色", "Different model sent"],
    "quantity_short": ["Ordered 10, received 8", "少发2件", "One pair missing from the carton"],
    "lost": ["No scan for 20 days after hand-over", "物流显示丢件"],
    "delayed": ["Stuck at the hub for 9 days", "比承诺时效晚7天"],
    "undeliverable": ["Customer refused the parcel", "地址无法投递，退回"],
    "false_signoff": ["Marked delivered, customer has nothing", "显示已签收但客户未收到"],
    "tracking_anomaly": ["Tracking not updated for a week", "物流信息停滞"],
    "out_of_stock": ["Supplier out of stock for size M", "供应商缺货"],
    "info_error": ["Wrong phone number on the order", "收件地址填写错误"],
    "system_failure": ["Order not pushed to the warehouse system", "系统未同步订单"],
    "special_request": ["Customer asks for a handwritten card", "客户要求加急配送"],
    "customs_hold": ["Held at customs for an invoice", "海关查验扣留"],
}
DETECTED = {
    "quality_defect": ["warehouse_receiving", "after_delivery"],
    "damaged": ["warehouse_receiving", "in_transit", "delivery", "after_delivery"],
    "wrong_item": ["warehouse_receiving", "after_delivery"],
    "quantity_short": ["warehouse_receiving", "after_delivery"],
    "lost": ["in_transit"],
    "delayed": ["in_transit", "customs"],
    "undeliverable": ["delivery"],
    "false_signoff": ["delivery"],
    "tracking_anomaly": ["in_transit"],
    "out_of_stock": ["order_processing"],
    "info_error": ["order_processing"],
    "system_failure": ["order_processing"],
    "special_request": ["order_processing"],
    "customs_hold": ["customs"],
}
CATEGORY_WEIGHTS = {
    "quality_defect": 30, "damaged": 18, "wrong_item": 10, "quantity_short": 8, "lost": 4, "delayed": 8,
    "undeliverable": 3, "false_signoff": 2, "tracking_anomaly": 4, "out_of_stock": 5, "info_error": 3,
    "system_failure": 1, "special_request": 2, "customs_hold": 2,
}
MISTAKES = [
    ("category", "damagd"), ("category", "质量问题 "), ("reported_at", "31/02/2026"), ("qty_affected", "three"),
    ("claim_amount", -5), ("supplier", None), ("currency", "dollars"), ("priority", "urgnt"),
    ("description", "=HYPERLINK(\"http://example.com\",\"photo\")"), ("owner", "+86 138 0000 0000"),
    ("owner", "@warehouse-team"), ("order_no", None), ("status", "finished"), ("qty_affected", "１２"),
]


def generate(cases: int, seed: int, now: datetime, months: int = 6) -> dict[str, list[dict[str, Any]]]:
    """Records by tab key: `cases` cases over the last `months` months, with Orders and Suppliers to match.

    Datetimes are naive wall-clock times, as typed into a sheet.
    """
    rng = random.Random(seed)
    now = now.replace(tzinfo=None, second=0, microsecond=0)
    n_suppliers = min(len(SUPPLIERS), max(5, cases // 15))
    names = SUPPLIERS[:n_suppliers]
    rates = {s: rng.lognormvariate(-4.2, 0.5) for s in names}
    for s in rng.sample(names, k=max(1, n_suppliers // 10)):
        rates[s] *= 3.5  # a few clearly worse suppliers
    periods = []
    year, month = now.year, now.month
    for _ in range(months):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    periods.reverse()

    orders = []
    weight: list[tuple[str, str, float]] = []
    for s in names:
        base = rng.randint(150, 2500)
        for p in periods:
            n = max(20, int(base * rng.uniform(0.7, 1.3)))
            orders.append({"supplier": s, "period": p, "orders": n, "units": n * rng.randint(1, 4)})
            weight.append((s, p, n * rates[s]))
    # Scale volumes so that the overall after-sales rate is about 2%, as in real logs.
    factor = (max(cases, 1) / 0.02) / sum(o["orders"] for o in orders)
    for o in orders:
        o["orders"] = max(1, round(o["orders"] * factor))
        o["units"] = max(o["orders"], round(o["units"] * factor))

    categories = list(CATEGORY_WEIGHTS)
    records = []
    picks = rng.choices(weight, weights=[w for *_, w in weight], k=cases)
    for i, (supplier, period, _w) in enumerate(picks):
        y, m = map(int, period.split("-"))
        start = datetime(y, m, 1, 8, 0)
        end = min(now - timedelta(hours=1), (datetime(y + (m == 12), m % 12 + 1, 1)))
        span = max(60, int((end - start).total_seconds() // 60))
        reported = start + timedelta(minutes=rng.randrange(span))
        category = categories[i] if i < len(categories) else rng.choices(categories, weights=list(CATEGORY_WEIGHTS.values()))[0]
        age = (now - reported).days
        status = status_for_age(rng, age)
        product, product_category = rng.choice(PRODUCTS)
        rec: dict[str, Any] = {
            "reported_at": reported,
            "source": rng.choice(["qc_inspection", "warehouse", "customer", "carrier"]),
            "detected_at": rng.choice(DETECTED[category]),
            "order_no": f"KB{reported:%y%m}{rng.randrange(10**6):06d}",
            "item_sku": f"SKU-{rng.randrange(10**5):05d}",
            "product_name": product,
            "product_category": product_category,
            "qty_affected": rng.choice([1, 1, 1, 2, 3, 5, 10]),
            "supplier": supplier,
            "carrier": rng.choice(CARRIERS),
            "tracking_no": f"YT{rng.randrange(10**12):012d}",
            "warehouse": rng.choice(WAREHOUSES),
            "region": rng.choice(REGIONS),
            "category": category,
            "priority": rng.choices(["urgent", "high", "normal", "low", None], weights=[5, 15, 50, 10, 20])[0],
            "description": rng.choice(DESCRIPTIONS[category]),
            "evidence_links": f"https://photos.example.com/qc/{i:05d}.jpg" if rng.random() < 0.6 else None,
            "status": status,
            "owner": rng.choice(OWNERS),
        }
        if category == "damaged":
            rec["packaging_damaged"] = rng.choice(["yes", "no"])
        if status not in ("reported",) and rng.random() < 0.7:
            rec["responsible_party"] = rng.choice(["supplier", "supplier", "carrier", "warehouse"])
        if status in ("plan_agreed", "in_progress", "completed", "closed"):
            rec["disposition"] = rng.choice(["return_to_supplier", "reship", "refund", "partial_refund", "replace", "compensate"])
            rec["claim_amount"] = round(rng.uniform(5, 400), 2)
            rec["currency"] = rng.choice(["USD", "CNY", "EUR"])
        if status in ("completed", "closed"):  # when it got there, as a purchaser types it (no draw: the rest of the sample stays as it was)
            rec["status_changed_at"] = min(reported + timedelta(days=2 + (i * 7) % 19, hours=(i * 5) % 9), now - timedelta(hours=1))
        if status == "closed":
            rec["customer_feedback"] = rng.choice(["Satisfied", "满意", "Accepted partial refund", "OK"])
            rec["resolution_notes"] = rng.choice(["Refunded", "已补发", "Supplier replaced the batch"])
        records.append(rec)

    # Mistakes spare the first case of each category, so every category stays covered.
    n_mistakes = max(1, cases * 3 // 100) if cases >= 10 else 0
    spoilable = range(len(categories), cases) if cases > 2 * len(categories) else range(cases)
    for j, index in enumerate(rng.sample(spoilable, k=min(n_mistakes, len(spoilable)))):
        key, value = MISTAKES[j % len(MISTAKES)]
        records[index][key] = value
    suppliers = [
        {"supplier": s, "contact_email": f"aftersales{k:02d}@supplier{k:02d}.example.com", "region": "CN", "owner": rng.choice(OWNERS)}
        for k, s in enumerate(names, start=1)
    ]
    started = datetime(*map(int, periods[len(periods) // 2].split("-")), 1)  # halfway: windows on both sides
    improvements = [
        {"scope_type": "supplier", "scope": max(rates, key=rates.__getitem__), "action": "QC visit before every shipment", "started_at": started, "owner": OWNERS[0]},
        {"scope_type": "category", "scope": "damaged", "action": "Double-wall cartons for fragile items", "started_at": started, "owner": OWNERS[-1]},
    ]
    keys = {t: {f.key for f in schemas()[t].fields} for t in ("cases", "orders", "suppliers", "improvements")}
    for tab, recs in (("cases", records), ("orders", orders), ("suppliers", suppliers), ("improvements", improvements)):
        assert all(set(r) <= keys[tab] for r in recs), tab
    return {"cases": records, "orders": orders, "suppliers": suppliers, "improvements": improvements}


def status_for_age(rng: random.Random, age_days: int) -> str:
    """A likely status of a case reported `age_days` ago: most old cases are closed."""
    if age_days > 60:
        return rng.choices(["closed", "completed", "in_progress", "disputed", "cancelled"], weights=[75, 10, 6, 5, 4])[0]
    if age_days > 14:
        return rng.choices(["closed", "completed", "in_progress", "plan_agreed", "responsibility_confirmed", "on_hold"], weights=[40, 15, 20, 10, 10, 5])[0]
    return rng.choices(["reported", "responsibility_confirmed", "plan_agreed", "in_progress", "completed"], weights=[35, 25, 15, 20, 5])[0]
