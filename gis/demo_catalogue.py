"""The non-spatial side of the demo county: place names, the matter catalogue, departments, teams,
delegations and the routing rules.

Kept apart from `gis.demo` so the generator reads as geometry and simulation; this is text and tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

import numpy as np

from gis.model import Delegation, Matter, MatterFilter, Rule, RuleScope, Team, Unit

COUNTY_CODE = "139900000000"  # 13 = Hebei; 99 is no real prefecture, so the demo can never be mistaken
COUNTY_NAME = "演示县"
SEAT_TOWN = "城关镇"  # the usual name of a county seat town
TOWN_NAMES = ("柳林镇", "北孟镇", "辛集镇", "大营镇", "王官庄镇", "马头镇", "南宫镇", "固献镇")
XIANG_NAMES = ("张家庄乡", "前屯乡", "西河乡", "孟村乡", "高庄乡", "小寨乡")
N_TOWNS = 4  # besides the seat town; the other townships are 乡
N_XIANG = 2

# Village names are built as [direction] + surname + suffix, the commonest pattern on the north China plain.
NAME_PREFIXES = ("", "", "", "东", "西", "南", "北", "前", "后", "大", "小", "中")
SURNAMES = tuple(
    "张王李赵刘陈杨黄周吴孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董袁潘于蒋蔡杜程苏魏吕丁任沈姚"
    "卢姜崔钟谭陆范金石贾夏付方白邹孟秦邱尹薛闫段雷侯史郝邵武戴孔"
)
NAME_SUFFIXES = ("庄", "村", "屯", "营", "集", "寨", "店", "堡", "楼", "固", "官庄", "家庄", "辛庄", "庄头")
COMMUNITY_NAMES = (
    "建设路", "人民路", "文化街", "新华", "胜利", "光明", "和平", "幸福", "朝阳", "育才", "府前", "东关",
    "西关", "南关", "北关", "振兴", "紫荆", "迎宾", "团结", "繁荣", "滨河", "站前", "园林", "锦绣",
    "永安", "康宁", "书院", "鼓楼", "丰收", "兴华", "清河", "金桥",
)
GIVEN_NAMES = ("秀英", "桂兰", "建国", "志强", "海燕", "丽娟", "国华", "卫东", "玉梅", "振华", "红霞",
               "春生", "文静", "立新", "淑芬", "永刚", "晓东", "学军", "爱民", "凤英")

BUREAU_NAME = f"{COUNTY_NAME}综合行政执法局"
BUREAU_CODE = "T-BUREAU"
URBAN_ZONE, DEV_ZONE, SCENIC_ZONE, RELOCATED_ZONE = "Z-URBAN", "Z-DEV", "Z-SCENIC", "Z-RELOC"
RULES_FROM = date(2025, 1, 1)  # when the current delegation list took effect
DELEGATION_BASIS = "《中华人民共和国行政处罚法》第二十四条；《河北省乡镇和街道综合行政执法事项目录》"


class MatterSpec(NamedTuple):
    """One catalogue line: matter, whether townships hold it, and how often each kind of area reports it."""

    code: str
    name: str
    domain: str
    procedure: str  # simple → time limit in working hours, ordinary → working days
    limit: int
    delegated: bool
    urban: float  # relative report weights by area kind
    rural: float
    dev: float
    scenic: float


MKT, NR, ENV, HC, URB = "市场监管", "自然资源", "生态环境", "住房城乡建设", "城市管理"
AGR, WAT, EMG, TRN, CUL = "农业农村", "水利", "应急管理", "交通运输", "文化旅游"
TRF, TAX = "公安交管", "税务"
SMP, ORD = "simple", "ordinary"

MATTERS: tuple[MatterSpec, ...] = (
    MatterSpec("M-URB-001", "占道经营", URB, SMP, 2, True, 10, 2, 1, 2),
    MatterSpec("M-URB-002", "店外经营", URB, SMP, 4, True, 6, 1, 0.5, 1),
    MatterSpec("M-URB-003", "乱贴乱画小广告", URB, SMP, 8, True, 5, 1, 0.5, 0.3),
    MatterSpec("M-URB-004", "擅自设置户外广告牌", URB, ORD, 15, False, 3, 0.5, 1, 0.5),
    MatterSpec("M-URB-005", "露天烧烤", URB, SMP, 2, True, 4, 0.5, 0.5, 1),
    MatterSpec("M-URB-006", "违规倾倒建筑垃圾", URB, ORD, 10, True, 2, 2, 2, 0.3),
    MatterSpec("M-URB-007", "随意倾倒生活垃圾", URB, SMP, 8, True, 3, 4, 1, 2),
    MatterSpec("M-URB-008", "擅自占用挖掘城市道路", URB, ORD, 15, False, 1, 0.1, 0.5, 0),
    MatterSpec("M-URB-009", "沿街晾晒影响市容", URB, SMP, 8, True, 2, 0.2, 0.1, 0.1),
    MatterSpec("M-URB-010", "车辆带泥行驶污染路面", URB, SMP, 4, True, 2, 1.5, 3, 0.2),
    MatterSpec("M-URB-011", "损坏城市绿化设施", URB, ORD, 15, False, 1, 0.1, 0.5, 0.3),
    MatterSpec("M-URB-012", "擅自砍伐城市树木", URB, ORD, 30, False, 0.3, 0.1, 0.2, 0.2),
    MatterSpec("M-HC-001", "城镇违法建设", HC, ORD, 30, False, 2, 0.3, 1, 0.5),
    MatterSpec("M-HC-002", "建筑工地扬尘未覆盖", HC, SMP, 8, True, 2, 1, 3, 0.2),
    MatterSpec("M-HC-003", "未取得施工许可擅自开工", HC, ORD, 20, False, 0.5, 0.3, 2, 0.1),
    MatterSpec("M-HC-004", "燃气经营违规", HC, ORD, 20, False, 0.3, 0.2, 0.3, 0),
    MatterSpec("M-HC-005", "物业服务企业违规", HC, ORD, 30, False, 0.8, 0, 0.1, 0),
    MatterSpec("M-HC-006", "夜间施工噪声扰民", HC, SMP, 4, True, 2, 0.3, 1, 0),
    MatterSpec("M-NR-001", "非法占用耕地建房", NR, ORD, 30, True, 0.2, 3, 0.5, 0.5),
    MatterSpec("M-NR-002", "非法挖沙取土", NR, ORD, 30, True, 0, 1.5, 0.3, 0.2),
    MatterSpec("M-NR-003", "未经批准临时用地", NR, ORD, 30, False, 0.2, 0.5, 1, 0.2),
    MatterSpec("M-NR-004", "破坏永久基本农田", NR, ORD, 60, False, 0, 0.5, 0.2, 0),
    MatterSpec("M-NR-005", "非法采矿", NR, ORD, 30, False, 0, 0.2, 0, 0),
    MatterSpec("M-NR-006", "违法占用林地", NR, ORD, 30, False, 0, 0.3, 0, 0.5),
    MatterSpec("M-ENV-COAL", "露天晾晒煤泥", ENV, SMP, 8, True, 0, 0.6, 0.3, 0),
    MatterSpec("M-ENV-001", "露天焚烧秸秆", ENV, SMP, 2, True, 0.2, 3, 0.2, 0.5),
    MatterSpec("M-ENV-002", "露天焚烧垃圾", ENV, SMP, 2, True, 0.5, 2, 0.5, 0.5),
    MatterSpec("M-ENV-003", "散煤违规燃烧", ENV, SMP, 8, True, 0.3, 1.5, 0.3, 0.1),
    MatterSpec("M-ENV-004", "餐饮油烟超标排放", ENV, ORD, 10, True, 2, 0.2, 0.3, 0.5),
    MatterSpec("M-ENV-005", "建设项目未批先建", ENV, ORD, 60, False, 0.3, 0.3, 2, 0.2),
    MatterSpec("M-ENV-006", "超标排放水污染物", ENV, ORD, 60, False, 0.2, 0.4, 2, 0.1),
    MatterSpec("M-ENV-007", "危险废物违规贮存处置", ENV, ORD, 60, False, 0.2, 0.3, 1.5, 0),
    MatterSpec("M-ENV-008", "自动监测设备不正常运行", ENV, ORD, 30, False, 0.1, 0.1, 1, 0),
    MatterSpec("M-ENV-009", "社会生活噪声扰民", ENV, SMP, 4, True, 2, 0.5, 0.3, 0.5),
    MatterSpec("M-ENV-010", "散乱污企业违法生产", ENV, ORD, 30, False, 0.3, 1, 1.5, 0),
    MatterSpec("M-MKT-001", "无证无照经营", MKT, ORD, 15, True, 3, 1.5, 1, 1),
    MatterSpec("M-MKT-002", "销售过期食品", MKT, SMP, 8, True, 2, 1, 0.5, 1),
    MatterSpec("M-MKT-003", "不明码标价", MKT, SMP, 8, True, 1.5, 0.5, 0.3, 2),
    MatterSpec("M-MKT-004", "食品小作坊违规生产", MKT, ORD, 20, False, 0.5, 0.8, 0.5, 0.2),
    MatterSpec("M-MKT-005", "计量器具作弊缺斤短两", MKT, SMP, 8, True, 1, 0.5, 0.1, 1),
    MatterSpec("M-MKT-006", "特种设备未按规定检验", MKT, ORD, 30, False, 0.3, 0.2, 1, 0.2),
    MatterSpec("M-MKT-007", "虚假宣传", MKT, ORD, 30, False, 0.5, 0.2, 0.3, 0.5),
    MatterSpec("M-MKT-008", "药品零售违规", MKT, ORD, 30, False, 0.3, 0.2, 0.1, 0),
    MatterSpec("M-AGR-001", "销售假劣农药", AGR, ORD, 30, False, 0.1, 0.8, 0.1, 0),
    MatterSpec("M-AGR-002", "违规使用禁限用农药", AGR, ORD, 15, True, 0, 0.8, 0, 0.2),
    MatterSpec("M-AGR-003", "随意丢弃病死畜禽", AGR, SMP, 8, True, 0, 1, 0, 0.1),
    MatterSpec("M-AGR-004", "非法占用宅基地", AGR, ORD, 30, True, 0, 1.5, 0, 0.2),
    MatterSpec("M-AGR-005", "畜禽养殖粪污直排", AGR, ORD, 15, True, 0, 1, 0.2, 0.2),
    MatterSpec("M-AGR-006", "违规收购贩运生猪", AGR, ORD, 20, False, 0, 0.3, 0, 0),
    MatterSpec("M-WAT-001", "河道内倾倒垃圾", WAT, SMP, 8, True, 0.2, 1, 0.2, 1),
    MatterSpec("M-WAT-002", "河道管理范围内违法建设", WAT, ORD, 30, False, 0.1, 0.4, 0.2, 0.5),
    MatterSpec("M-WAT-003", "私打机井取用地下水", WAT, ORD, 30, True, 0, 0.8, 0.3, 0.1),
    MatterSpec("M-WAT-004", "河道非法采砂", WAT, ORD, 30, False, 0, 0.3, 0, 0.3),
    MatterSpec("M-EMG-001", "非法储存销售烟花爆竹", EMG, ORD, 15, True, 0.5, 0.5, 0.2, 0.2),
    MatterSpec("M-EMG-002", "生产经营单位安全隐患未整改", EMG, ORD, 20, False, 0.5, 0.5, 2, 0.3),
    MatterSpec("M-EMG-003", "流动加油车非法售油", EMG, SMP, 8, False, 0.3, 0.6, 0.3, 0),
    MatterSpec("M-EMG-004", "占用堵塞消防通道", EMG, SMP, 4, True, 1.5, 0.3, 0.5, 0.5),
    MatterSpec("M-EMG-005", "违规动火作业", EMG, SMP, 8, True, 0.3, 0.3, 1, 0),
    MatterSpec("M-TRN-001", "公路两侧违规堆放物品", TRN, SMP, 8, True, 0.3, 1, 0.5, 0.3),
    MatterSpec("M-TRN-002", "公路用地违规设置广告", TRN, ORD, 15, False, 0.2, 0.3, 0.3, 0.3),
    MatterSpec("M-TRN-003", "非法营运黑车", TRN, ORD, 15, False, 0.8, 0.3, 0.2, 0.5),
    MatterSpec("M-TRN-004", "车辆超限运输", TRN, ORD, 10, False, 0.2, 0.5, 1, 0),
    MatterSpec("M-TRN-005", "擅自占用挖掘公路", TRN, ORD, 15, False, 0.1, 0.3, 0.3, 0),
    MatterSpec("M-CUL-001", "网吧接纳未成年人", CUL, ORD, 15, False, 0.5, 0.1, 0, 0),
    MatterSpec("M-CUL-002", "未经许可经营娱乐场所", CUL, ORD, 20, False, 0.3, 0.1, 0, 0.5),
    MatterSpec("M-CUL-003", "擅自从事旅行社业务", CUL, ORD, 30, False, 0.1, 0.05, 0, 0.5),
    MatterSpec("M-CUL-004", "出版物市场违规经营", CUL, ORD, 15, True, 0.3, 0.05, 0, 0.2),
    MatterSpec("M-CUL-005", "损毁文物保护标志", CUL, ORD, 30, False, 0.05, 0.1, 0, 0.5),
    MatterSpec("M-CUL-006", "景区违规经营揽客", CUL, SMP, 8, False, 0, 0, 0, 6),
    MatterSpec("M-TRF-001", "机动车违法停放", TRF, SMP, 2, False, 3, 0.5, 1, 2),
    MatterSpec("M-TRF-002", "电动自行车违规载人", TRF, SMP, 2, False, 1, 0.3, 0.3, 0.2),
    MatterSpec("M-TRF-003", "农用车违法载人", TRF, SMP, 2, False, 0, 0.5, 0, 0.2),
    MatterSpec("M-TAX-001", "未按规定办理税务登记", TAX, ORD, 30, False, 0.3, 0.1, 0.3, 0.1),
    MatterSpec("M-TAX-002", "未按规定开具发票", TAX, ORD, 30, False, 0.5, 0.1, 0.5, 0.2),
)

# Matters only the township holding the scenic area was given (a real pattern: tourism towns get more).
SCENIC_EXTRA = ("M-CUL-006", "M-CUL-005")


class DepartmentSpec(NamedTuple):
    """A county department that kept matters out of the comprehensive team."""

    code: str
    name: str
    matters: tuple[str, ...]
    legal_basis: str


DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec("T-DEPT-ENV", "演示市生态环境局演示县分局",
                   ("M-ENV-005", "M-ENV-006", "M-ENV-007", "M-ENV-008"),
                   "《关于深化生态环境保护综合行政执法改革的指导意见》；《中华人民共和国环境影响评价法》"),
    DepartmentSpec("T-DEPT-TRF", "演示县公安局交通警察大队",
                   ("M-TRF-001", "M-TRF-002", "M-TRF-003"),
                   "《中华人民共和国道路交通安全法》第五条、第九十三条"),
    DepartmentSpec("T-DEPT-TAX", "国家税务总局演示县税务局",
                   ("M-TAX-001", "M-TAX-002"),
                   "《中华人民共和国税收征收管理法》第五条"),
    DepartmentSpec("T-DEPT-MKT", "演示县市场监督管理局",
                   ("M-MKT-006", "M-MKT-008"),
                   "《中华人民共和国特种设备安全法》；《中华人民共和国药品管理法》（专业性强，未纳入综合执法）"),
)

# Incident report phrasing: who noticed, where in the place, and the closing remark.
REPORT_OPENERS = ("巡查发现", "群众反映", "网格员巡查发现", "12345热线转办：", "村民电话反映")
RURAL_SPOTS = ("村东头", "村西口", "主街", "村南坑塘边", "村北路口", "学校附近", "村委会旁", "公路边", "田间")
URBAN_SPOTS = ("小区门口", "农贸市场", "学校门口", "商业街", "十字路口", "公园东门", "医院附近", "超市门口")
REPORT_CLOSINGS = ("请核查处置", "已拍照取证", "请尽快处理", "现场劝阻无效", "影响群众生活")
COAL_NOTES = ("扬尘严重", "面积较大，已多次劝阻", "夜间晾晒，清晨收起", "又有新煤泥运来", "周边村民意见大")

# Seasonal report multipliers by month (straw burning at the wheat and maize harvests, coal in winter...).
SEASONAL: dict[str, dict[int, float]] = {
    "M-ENV-001": {5: 2, 6: 6, 7: 1.5, 9: 2, 10: 6, 11: 2},
    "M-ENV-003": {11: 3, 12: 3, 1: 3, 2: 3},
    "M-EMG-001": {1: 5, 2: 5, 12: 2},
    "M-WAT-003": {3: 2, 4: 2, 5: 2},
    "M-URB-005": {6: 2, 7: 2, 8: 2},
}
# Month/day pairs of public holidays (reports drop): New Year, Labour Day, National Day golden week.
HOLIDAYS = {(1, 1), (5, 1), (5, 2), (5, 3), (10, 1), (10, 2), (10, 3), (10, 4), (10, 5), (10, 6), (10, 7)}
DEV_SPOTS = ("园区道路旁", "企业厂区外", "在建工地", "物流园门口", "污水处理厂附近")
SCENIC_SPOTS = ("景区入口", "停车场", "游客服务中心旁", "梨园步道", "观景台")


# --- builders ------------------------------------------------------------------------------------


def build_teams(rng: np.random.Generator, units: list[Unit]) -> list[Team]:
    """Bureau, its two squadrons, one team per township, departments, and a grid worker per village."""
    bureau = BUREAU_CODE
    teams = [
        Team(code=bureau, name=BUREAU_NAME, kind="county_bureau", unit_code=COUNTY_CODE),
        Team(code="T-SQ-URBAN", name=f"{BUREAU_NAME}城区中队", kind="squadron", parent_code=bureau,
             unit_code=URBAN_ZONE),
        Team(code="T-SQ-DEV", name=f"{BUREAU_NAME}开发区中队", kind="squadron", parent_code=bureau,
             unit_code=DEV_ZONE),
    ]
    townships = [u for u in units if u.layer == "township"]
    teams += [Team(code=township_team_code(u.code), name=f"{u.name}综合行政执法队", kind="township_team",
                   parent_code=bureau, unit_code=u.code) for u in townships]
    teams += [Team(code=d.code, name=d.name, kind="department", unit_code=COUNTY_CODE,
                   attributes={"kept_matters": list(d.matters)}) for d in DEPARTMENTS]
    for u in units:
        if u.layer == "village":
            person = str(rng.choice(SURNAMES)) + str(rng.choice(GIVEN_NAMES))
            short = u.name.removesuffix("居委会").removesuffix("委会")
            teams.append(Team(code=grid_worker_code(u.code), name=f"{short}网格员{person}", kind="grid_worker",
                              parent_code=township_team_code(str(u.parent_code)), unit_code=u.code))
    return teams


def township_team_code(township_code: str) -> str:
    """Team code of a township's comprehensive enforcement team."""
    return f"T-TWP-{township_code}"


def grid_worker_code(village_code: str) -> str:
    """Team code of a village's grid worker."""
    return f"GW-{village_code}"


# First-violation lists (首违不罚 / 责令改正前置 / 可单独警告, as 海曙 publishes them): the class and its look-back
# window in months; "none" marks a matter the county decided is on no list; the rest are not classified.
FIRST_VIOLATION: dict[str, tuple[str, int]] = {
    "M-URB-001": ("no_penalty", 12), "M-URB-002": ("no_penalty", 12), "M-URB-003": ("no_penalty", 12),
    "M-URB-009": ("no_penalty", 12), "M-MKT-003": ("no_penalty", 12), "M-TRN-001": ("no_penalty", 12),
    "M-ENV-COAL": ("correction_first", 24), "M-HC-002": ("correction_first", 24), "M-URB-010": ("correction_first", 12),
    "M-EMG-004": ("correction_first", 12), "M-URB-005": ("correction_first", 12),
    "M-ENV-009": ("warning_only", 12), "M-URB-007": ("warning_only", 12), "M-ENV-001": ("warning_only", 12),
    "M-HC-006": ("warning_only", 12),
    "M-MKT-002": ("none", 12), "M-EMG-001": ("none", 12), "M-NR-001": ("none", 12),
}


def build_matters() -> list[Matter]:
    """The enforcement matter catalogue; simple-procedure limits count working hours, ordinary days."""
    return [Matter(code=m.code, name=m.name, domain=m.domain, procedure="simple" if m.procedure == "simple"
                   else "ordinary", time_limit=m.limit,
                   time_unit="working_hours" if m.procedure == "simple" else "working_days",
                   attributes={"title": f"对{m.name}的行政处罚", **_first_violation(m.code)}) for m in MATTERS]


def _first_violation(code: str) -> dict[str, object]:
    if code not in FIRST_VIOLATION:
        return {}
    klass, months = FIRST_VIOLATION[code]
    return {"first_violation": klass} if klass == "none" else {"first_violation": klass,
                                                                "first_violation_months": months}


def build_delegations(townships: Sequence[Unit], scenic_township: str) -> list[Delegation]:
    """The common matters to every township, plus tourism extras to the one holding the scenic area."""
    common = [m.code for m in MATTERS if m.delegated]
    out = [Delegation(township_code=t.code, matter_code=c) for t in townships for c in common]
    out += [Delegation(township_code=scenic_township, matter_code=c) for c in SCENIC_EXTRA]
    return out


def build_rules(townships: Sequence[Unit], market_cells: list[str]) -> list[Rule]:
    """The routing table: county fallback, townships, urban core, market cells, dev zone, departments."""
    everywhere = RuleScope(type="everywhere")
    basis = DELEGATION_BASIS
    rules = [Rule(code="R-COUNTY", priority=10, scope=everywhere, matters=MatterFilter(type="not_delegated"),
                  team_code=BUREAU_CODE, effective_from=RULES_FROM, legal_basis=f"{basis}（未赋权事项由县局行使）",
                  description="未下放乡镇的事项，全县范围由县综合行政执法局管辖")]
    rules += [Rule(code=f"R-TWP-{t.code}", priority=20, scope=RuleScope(type="unit", unit_code=t.code),
                   matters=MatterFilter(type="delegated"), team_code=township_team_code(t.code),
                   effective_from=RULES_FROM, legal_basis=f"{basis}；{COUNTY_NAME}人民政府赋权公告",
                   description=f"{t.name}辖区内已赋权事项由{t.name}综合行政执法队管辖") for t in townships]
    rules += [
        Rule(code="R-URBAN-CORE", priority=30, scope=RuleScope(type="unit", unit_code=URBAN_ZONE),
             matters=MatterFilter(type="all"), team_code="T-SQ-URBAN", effective_from=RULES_FROM,
             legal_basis=f"《{COUNTY_NAME}综合行政执法局城区中队职责划分方案》",
             description="县城城区各社区由县局城区中队管辖，城关镇执法队管辖镇内其他村"),
        Rule(code="R-MARKET-CELLS", priority=35, scope=RuleScope(type="cells", cells=market_cells),
             matters=MatterFilter(type="all"), team_code="T-SQ-URBAN", effective_from=RULES_FROM,
             legal_basis=f"《{COUNTY_NAME}城关镇农贸大集管理办法》",
             description="城关镇农贸大集（城区外）集日秩序由城区中队统一管理"),
        Rule(code="R-DEV-ZONE", priority=40, scope=RuleScope(type="unit", unit_code=DEV_ZONE),
             matters=MatterFilter(type="all"), team_code="T-SQ-DEV", effective_from=RULES_FROM,
             legal_basis=f"《{COUNTY_NAME}经济开发区管理条例》；开发区管委会综合执法授权决定",
             description="开发区规划范围内由开发区中队管辖，跨越所涉各村界"),
    ]
    rules += [Rule(code=f"R-{d.code.removeprefix('T-')}", priority=50, scope=everywhere,
                   matters=MatterFilter(type="codes", codes=list(d.matters)), team_code=d.code,
                   effective_from=RULES_FROM, legal_basis=d.legal_basis,
                   description=f"{d.name}保留的专业执法事项，全县范围") for d in DEPARTMENTS]
    return rules
