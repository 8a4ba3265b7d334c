"""The statistics realistic mode is calibrated to, measurable on any invoice history.

``invoice_stats`` takes plain columns so it measures generated data and a real export alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# What a real wholesaler's invoice history showed (issue 13) and the tolerance the tests allow.
TARGETS: dict[str, tuple[float, float]] = {
    "repeat_share_next_month": (0.43, 0.06),
    "median_products_per_customer": (33.0, 7.0),
    "guest_line_share": (0.25, 0.02),
    "cancel_line_share": (0.017, 0.004),
}


@dataclass(frozen=True)
class InvoiceStats:
    lines: int
    repeat_share_next_month: float  # of distinct (customer, product) pairs bought in the last 30 days
    median_products_per_customer: float  # distinct products bought, customers with a purchase
    guest_line_share: float  # lines without a customer
    cancel_line_share: float  # lines on cancellation invoices
    return_line_share: float  # negative quantity, not a cancellation, a real product
    non_product_line_share: float  # postage, fees, manual lines
    top_decile_product_share: float  # purchase lines of the 10 % best-selling products
    bottom_half_product_share: float  # purchase lines of the less-selling half of the products sold

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def off_target(self) -> dict[str, str]:
        """Statistics outside ``TARGETS`` tolerance, with what they should be."""
        out = {}
        for name, (target, tolerance) in TARGETS.items():
            value = getattr(self, name)
            if abs(value - target) > tolerance:
                out[name] = f"{value:.3f}, expected {target} ± {tolerance}"
        return out


def invoice_stats(
    *,
    customer: np.ndarray,
    product: np.ndarray,
    quantity: np.ndarray,
    cancelled: np.ndarray,
    non_product: np.ndarray,
    sold_at: np.ndarray,
    test_days: int = 30,
) -> InvoiceStats:
    """``customer`` is an integer index with -1 for no customer; ``product`` an integer index;
    ``cancelled``/``non_product`` are per-line flags; ``sold_at`` epoch seconds."""
    n = len(customer)
    purchase = (customer >= 0) & ~cancelled & ~non_product & (quantity > 0)
    c, p, t = customer[purchase].astype(np.int64), product[purchase].astype(np.int64), sold_at[purchase]
    width = int(p.max()) + 1 if len(p) else 1
    pair = c * width + p
    cutoff = int(sold_at.max()) - test_days * 86_400 if n else 0
    before, after = t < cutoff, t >= cutoff
    known_customers = np.unique(c[before])
    test_pairs = np.unique(pair[after & np.isin(c, known_customers)])
    repeat = float(np.isin(test_pairs, pair[before]).mean()) if len(test_pairs) else 0.0
    distinct = np.unique(pair)
    per_customer = np.bincount(np.unique(distinct // width, return_inverse=True)[1])
    sales = np.sort(np.bincount(p))[::-1]
    sold = sales[sales > 0]
    top = float(sold[: max(1, len(sold) // 10)].sum() / max(sold.sum(), 1))
    returns = (quantity < 0) & ~cancelled & ~non_product
    return InvoiceStats(
        lines=n,
        repeat_share_next_month=repeat,
        median_products_per_customer=float(np.median(per_customer)) if len(per_customer) else 0.0,
        guest_line_share=float((customer < 0).mean()),
        cancel_line_share=float(cancelled.mean()),
        return_line_share=float(returns.mean()),
        non_product_line_share=float(non_product.mean()),
        top_decile_product_share=top,
        bottom_half_product_share=float(sold[len(sold) // 2 :].sum() / max(sold.sum(), 1)),
    )
