"""Reference data of the first customer: the branches (Điện lực) of Lạng Sơn province.

Branch ids are the project's own short codes; the names are those the company uses. The
synthetic province uses the same ids, so demo reports read like real ones.
"""

from __future__ import annotations

from ami.vocabulary import CustomerGroup

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
