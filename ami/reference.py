"""Reference data of the first customer: the branches (Điện lực) of Lạng Sơn province.

Branch ids are the project's own short codes; the names are those the company uses. The
synthetic province uses the same ids, so demo reports read like real ones.
"""

from __future__ import annotations

from ami.vocabulary import CustomerGroup, EventCategory, Finding, Rule

COMPANY_NAME = "Công ty Điện lực Lạng Sơn"
RECIPIENT = "Sở Công Thương tỉnh Lạng Sơn"

BRANCH_NAMES: dict[str, str] = {
    "LS01": "Điện lực Thành phố Lạng Sơn",
    "LS02": "Điện lực Cao Lộc",
    "LS03": "Điện lực Lộc Bình",
    "LS04": "Điện lực Đình Lập",
    "LS05": "Điện lực Hữu Lũng",
    "LS06": "Điện lực Chi Lăng",
    "LS07": "Điện lực Văn Quan",
    "LS08": "Điện lực Bắc Sơn",
    "LS09": "Điện lực Bình Gia",
    "LS10": "Điện lực Văn Lãng",
    "LS11": "Điện lực Tràng Định",
}

#: Customer groups with the Vietnamese names the province's plan uses.
CUSTOMER_GROUP_NAMES: dict[str, str] = {
    CustomerGroup.RESIDENTIAL: "Sinh hoạt",
    CustomerGroup.COMMERCIAL: "Kinh doanh dịch vụ",
    CustomerGroup.PRODUCTION: "Sản xuất",
    CustomerGroup.PUBLIC_ADMIN: "Hành chính sự nghiệp",
    CustomerGroup.PUBLIC_LIGHTING: "Chiếu sáng công cộng",
    CustomerGroup.OTHER: "Khác",
}

#: VEE rules and findings as the loss teams read them (silver ``rule``, ``findings.rule``).
VEE_RULE_NAMES: dict[str, str] = {
    Rule.NO_READING: "Không có số liệu",
    Rule.NEGATIVE_VALUE: "Giá trị âm",
    Rule.OFF_GRID_TIMESTAMP: "Thời điểm lệch chu kỳ",
    Rule.FUTURE_TIMESTAMP: "Thời điểm ở tương lai",
    Rule.UNPARSABLE: "Không đọc được",
    Rule.ABSURD_VALUE: "Giá trị phi lý",
    Rule.SPIKE: "Đột biến",
    Rule.OUTSIDE_ACTIVE_PERIOD: "Ngoài thời gian hiệu lực",
    Rule.LINEAR_INTERPOLATION: "Nội suy tuyến tính",
    Rule.LINEAR_REGISTER: "Nội suy theo chỉ số",
    Rule.LIKE_DAY: "Ước tính theo ngày tương tự",
    Rule.LIKE_DAY_REGISTER: "Ngày tương tự theo chỉ số",
    Rule.FLAT_LINE: "Số liệu phẳng bất thường",
    Rule.ZERO_RUN: "Chuỗi bằng 0 kéo dài",
    Rule.UNKNOWN_METER: "Công tơ không có trong danh mục",
    Rule.HIGH_VALUE: "Giá trị cao bất thường",
    Finding.MISSING_INTERVAL: "Thiếu chu kỳ",
    Finding.NO_READINGS_DAY: "Cả ngày không có số liệu",
    Finding.NEVER_REPORTING: "Chưa từng gửi số liệu",
    Finding.DUPLICATE_EQUAL: "Trùng lặp (cùng giá trị)",
    Finding.DUPLICATE_CONFLICTING: "Trùng lặp (khác giá trị)",
    Finding.REVERSE_ENERGY: "Năng lượng chiều ngược",
    Finding.REGISTER_MISMATCH: "Lệch chỉ số công tơ",
    Finding.CLOCK_ADJUSTED: "Đồng hồ công tơ bị chỉnh",
    Finding.MULTIPLIER_JUMP: "Nhảy hệ số nhân",
    Finding.GROUP_HIGH: "Cao hơn hẳn nhóm",
    Finding.GROUP_LOW: "Thấp hơn hẳn nhóm",
    Finding.TRANSFORMER_OUTAGE: "Mất điện trạm",
    Finding.TRANSFORMER_DATA_FAULT: "Lỗi số liệu trạm",
}

#: What VEE did about a finding (``findings.action``).
VEE_ACTION_NAMES: dict[str, str] = {
    "flagged": "Gắn cờ, giữ giá trị", "rejected": "Loại bỏ", "estimated": "Ước tính lại",
    "left missing": "Để trống", "dropped": "Bỏ bản ghi trùng", "quarantined": "Cách ly",
}

#: Meter event categories (silver ``events.category``).
EVENT_CATEGORY_NAMES: dict[str, str] = {
    EventCategory.TAMPER: "Can thiệp công tơ", EventCategory.REVERSE: "Chiều ngược",
    EventCategory.POWER_OFF: "Mất điện", EventCategory.CLOCK: "Đồng hồ",
}
