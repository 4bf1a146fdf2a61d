"""The unit gazetteer: the departments a Kế hoạch names, however it spells them.

Every way of writing a unit ("Văn phòng UBND tỉnh", "VP.UBND tỉnh", "Văn phòng Ủy ban nhân dân
tỉnh") gives the same :class:`Unit`: one stable code and the full official name. Codes match
the hand-written An Giang plan (VP-UBND, SNV, SVHTTDL, STC, BAG, DPTTH).

Units are shared by every plan in a database, so district-level units carry their district in
the code and the name ("Phòng Nội vụ huyện Châu Thành" is ``PNV-CHAUTHANH``); in a provincial
plan, "Phòng Nội vụ các huyện, thị xã, thành phố" is the group ``PNV-CAP-HUYEN``. Provincial
units carry no province: a database serves one province.

Matching runs on folded text (no diacritics, see :func:`importer.text.fold`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Literal

from importer.text import code_slug, fold, initials

Level = Literal["province", "district"]


@dataclasses.dataclass(frozen=True)
class Unit:
    code: str
    name: str
    prefix: str  # the prefix of its assignment codes: VP-01, SNV-01, VH-01
    short_name: str | None = None
    known: bool = True  # False: not in the gazetteer, code made from the name's initials
    # True: a collective subject ("các sở, ban, ngành có liên quan") standing for a group of
    # units; the engine has no group duties yet, so the draft carries it as one unit marked
    # for review, and the reviewer splits it per unit or names the units
    group: bool = False


class Register:
    """The units found by the form of their name (not in the gazetteer), one per unit
    however it is spelt: abbreviations ("UBND" / "Ủy ban nhân dân"), old and new tone
    placement ("Uỷ" / "Ủy"), with or without the place ("Hội Nông dân" / "Hội Nông dân
    tỉnh"). Seeded with the units already in the database when the caller passes them;
    ``merges`` says which spellings became one unit."""

    def __init__(self, existing: Sequence[tuple[str, str]] = ()) -> None:
        self.units: dict[str, Unit] = {}  # normalised name -> unit
        self.merges: list[tuple[str, str]] = []  # (spelling, the unit's name)
        self.seed(existing)

    def seed(self, existing: Sequence[tuple[str, str]]) -> None:
        """Units already in the register (code, name): a spelling of one of them is it."""
        for code, name in existing:
            self.units[_normal_name(name)] = Unit(code, name, code, None, known=True)

    def unit_for(self, name: str) -> Unit:
        key = _normal_name(name)
        if key in self.units:
            unit = self.units[key]
            merge = (name, unit.name)
            if fold(unit.name).lower() != fold(name).lower() and merge not in self.merges:
                self.merges.append(merge)
            return unit
        match = _closest(key, list(self.units))
        if match is not None:
            unit = self.units[match]
            self.units[key] = unit
            if fold(unit.name).lower() != fold(name).lower():
                self.merges.append((name, unit.name))
            return unit
        taken = {u.code for u in self.units.values()}
        unit = unknown_unit(name, taken)
        self.units[key] = unit
        return unit


# How names are compared: no diacritics (so "Uỷ"/"Ủy" are one), lower case, abbreviations
# spelt out, the level word of the issuing body ("tỉnh") dropped.
_SPELT_OUT = (
    (re.compile(r"\bubnd\b"), "uy ban nhan dan"),
    (re.compile(r"\bubmttq(?:vn)?\b"), "uy ban mat tran to quoc"),
    (re.compile(r"\bmttq(?:vn)?\b"), "mat tran to quoc"),
    (re.compile(r"\bmat tran to quoc viet nam\b"), "mat tran to quoc"),
    (re.compile(r"\btp\.?\s"), "thanh pho "),
)


def _normal_name(name: str) -> str:
    text = " ".join(re.findall(r"[a-z0-9]+", fold(name).lower()))
    for pattern, full in _SPELT_OUT:
        text = pattern.sub(full, text + " ").strip()
    # a database serves one province: "… tỉnh An Giang", "… tỉnh" and "…" are one unit
    return re.sub(r"\s+tinh(?:\s+[a-z]+){0,3}$", "", text)


def _closest(key: str, names: Sequence[str]) -> str | None:
    """The known name ``key`` is a spelling of: rapidfuzz's token-set ratio, strict enough
    that "Sở Y tế" and "Sở Tư pháp" stay apart while word order and a missing place do not
    matter."""
    from rapidfuzz import fuzz, process

    if not names:
        return None
    found = process.extractOne(key, names, scorer=fuzz.token_sort_ratio, score_cutoff=92)
    if found is None:
        found = process.extractOne(key, names, scorer=fuzz.token_set_ratio, score_cutoff=100)
        # token-set 100 also means one name's words are a subset of the other's: only a
        # place or level word may be missing, never the words that tell units apart
        if found is not None and abs(len(found[0].split()) - len(key.split())) > 2:
            return None
    return str(found[0]) if found is not None else None


@dataclasses.dataclass(frozen=True)
class Context:
    """What the header says about the issuer: the province, and the district if any; and
    the register of the units the gazetteer does not know, shared by the whole document."""

    level: Level = "province"
    province: str | None = None
    district: str | None = None
    district_word: str = "huyện"
    register: Register = dataclasses.field(default_factory=Register, compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class UnitMatch:
    start: int
    end: int
    unit: Unit | None  # None: a generic mention ("các đơn vị liên quan"), no unit to track
    text: str


@dataclasses.dataclass(frozen=True)
class _Kind:
    code: str
    name: str
    prefix: str
    patterns: tuple[re.Pattern[str], ...]
    short_name: str | None
    scope: Literal["province", "district", "media"]
    # a second, fuller spelling: (pattern it must match, name, short name)
    variant: tuple[re.Pattern[str], str, str | None] | None = None


_UB = r"(?:uy ban nhan dan|UBND|U\.B\.N\.D)"
_HD = r"(?:hoi dong nhan dan|HDND)"
_AND = r"\s*(?:va|&|-|,)\s*"


def _kind(
    code: str,
    name: str,
    prefix: str,
    *patterns: str,
    short: str | None = None,
    scope: Literal["province", "district", "media"] = "province",
    variant: tuple[str, str, str | None] | None = None,
) -> _Kind:
    compiled = tuple(
        re.compile(p.format(UB=_UB, HD=_HD, AND=_AND), re.IGNORECASE) for p in patterns
    )
    var = None
    if variant:
        var = (re.compile(variant[0], re.IGNORECASE), variant[1], variant[2])
    return _Kind(code, name, prefix, compiled, short, scope, var)


_KINDS: tuple[_Kind, ...] = (
    # --- provincial departments and bodies ------------------------------------------------
    _kind(
        "VP-UBND",
        "Văn phòng Ủy ban nhân dân tỉnh",
        "VP",
        r"\bVan phong\s+{UB}\s+tinh\b",
        r"\bVP\s*\.?\s*-?\s*UBND(?:\s+tinh)?\b",
        short="VP.UBND tỉnh",
    ),
    _kind(
        "SNV",
        "Sở Nội vụ",
        "SNV",
        r"\bSo Noi vu(?:\s*\(\s*Ban Thi dua\s*-\s*Khen thuong(?:\s+tinh)?\s*\))?",
        r"\bBan Thi dua\s*-\s*Khen thuong(?:\s+tinh)?\b(?!\s+Trung uong)",
        r"\bBan TD\s*-?\s*KT(?:\s+tinh)?\b(?!\s+Trung uong)",
        r"\bSNV\b",
        variant=(r"Ban", "Sở Nội vụ (Ban Thi đua - Khen thưởng)", "Ban TĐ-KT"),
    ),
    _kind(
        "SVHTTDL",
        "Sở Văn hóa, Thể thao và Du lịch",
        "VH",
        r"\bSo Van hoa\s*,?\s*The thao\s*(?:va|&|,)\s*Du lich\b",
        r"\bSo VH\s*[-,.]?\s*TT\s*(?:&|va|-|,)?\s*DL\b",
        short="Sở VHTTDL",
    ),
    _kind(
        "SVHTT",
        "Sở Văn hóa và Thể thao",
        "VHTT",
        r"\bSo Van hoa\s*(?:va|&)\s*The thao\b(?!\s*(?:va|&|,)\s*Du lich)",
    ),
    _kind("STC", "Sở Tài chính", "TC", r"\bSo Tai chinh\b", r"\bSo TC\b"),
    _kind(
        "SKHDT",
        "Sở Kế hoạch và Đầu tư",
        "KHDT",
        r"\bSo Ke hoach{AND}Dau tu\b",
        r"\bSo KH\s*(?:&|va|-)?\s*DT\b",
        short="Sở KH&ĐT",
    ),
    _kind(
        "STTTT",
        "Sở Thông tin và Truyền thông",
        "TTTT",
        r"\bSo Thong tin{AND}Truyen thong\b",
        r"\bSo TT\s*(?:&|va|-)?\s*TT\b",
        short="Sở TT&TT",
    ),
    _kind(
        "SGDDT",
        "Sở Giáo dục và Đào tạo",
        "GD",
        r"\bSo Giao duc{AND}Dao tao\b",
        r"\bSo GD\s*(?:&|va|-)?\s*DT\b",
        short="Sở GD&ĐT",
    ),
    _kind("SYT", "Sở Y tế", "YT", r"\bSo Y te\b"),
    _kind(
        "SLDTBXH",
        "Sở Lao động - Thương binh và Xã hội",
        "LD",
        r"\bSo Lao dong\s*-?\s*Thuong binh{AND}Xa hoi\b",
        r"\bSo LD\s*-?\s*TB\s*(?:&|va|-)?\s*XH\b",
        short="Sở LĐ-TB&XH",
    ),
    _kind("STP", "Sở Tư pháp", "TP", r"\bSo Tu phap\b"),
    _kind("SCT", "Sở Công Thương", "CT", r"\bSo Cong thuong\b"),
    _kind(
        "SNNPTNT",
        "Sở Nông nghiệp và Phát triển nông thôn",
        "NN",
        r"\bSo Nong nghiep{AND}Phat trien nong thon\b",
        r"\bSo NN\s*(?:&|va|-)?\s*PTNT\b",
        short="Sở NN&PTNT",
    ),
    _kind(
        "SNNMT",
        "Sở Nông nghiệp và Môi trường",
        "NNMT",
        r"\bSo Nong nghiep{AND}Moi truong\b",
    ),
    _kind(
        "STNMT",
        "Sở Tài nguyên và Môi trường",
        "TNMT",
        r"\bSo Tai nguyen{AND}Moi truong\b",
        r"\bSo TN\s*(?:&|va|-)?\s*MT\b",
        short="Sở TN&MT",
    ),
    _kind("SXD", "Sở Xây dựng", "XD", r"\bSo Xay dung\b"),
    _kind("SGTVT", "Sở Giao thông vận tải", "GTVT", r"\bSo Giao thong van tai\b", r"\bSo GTVT\b"),
    _kind(
        "SKHCN",
        "Sở Khoa học và Công nghệ",
        "KHCN",
        r"\bSo Khoa hoc{AND}Cong nghe\b",
        r"\bSo KH\s*(?:&|va|-)?\s*CN\b",
        short="Sở KH&CN",
    ),
    _kind("SNGV", "Sở Ngoại vụ", "NGV", r"\bSo Ngoai vu\b"),
    _kind("BDT", "Ban Dân tộc tỉnh", "BDT", r"\bBan Dan toc(?:\s+tinh)?\b"),
    _kind("TTT", "Thanh tra tỉnh", "TTT", r"\bThanh tra tinh\b"),
    _kind("CAT", "Công an tỉnh", "CAT", r"\bCong an tinh\b"),
    _kind(
        "BCHQS",
        "Bộ Chỉ huy Quân sự tỉnh",
        "QS",
        r"\bBo Chi huy Quan su(?:\s+tinh)?\b",
        r"\bBo CHQS(?:\s+tinh)?\b",
        short="Bộ CHQS tỉnh",
    ),
    _kind(
        "BDBP",
        "Bộ Chỉ huy Bộ đội Biên phòng tỉnh",
        "BP",
        r"\bBo Chi huy Bo doi Bien phong(?:\s+tinh)?\b",
        r"\bBDBP(?:\s+tinh)?\b",
    ),
    _kind("KBNN", "Kho bạc Nhà nước tỉnh", "KB", r"\bKho bac Nha nuoc(?:\s+tinh)?\b"),
    _kind("CTHUE", "Cục Thuế tỉnh", "THUE", r"\bCuc Thue(?:\s+tinh)?\b"),
    _kind(
        "VP-DDBQH-HDND",
        "Văn phòng Đoàn đại biểu Quốc hội và Hội đồng nhân dân tỉnh",
        "VPHD",
        r"\bVan phong Doan (?:DBQH|dai bieu Quoc hoi){AND}{HD}(?:\s+tinh)?\b",
    ),
    _kind("VP-TU", "Văn phòng Tỉnh ủy", "VPTU", r"\bVan phong Tinh uy\b"),
    _kind(
        "BTGTU",
        "Ban Tuyên giáo Tỉnh ủy",
        "TG",
        r"\bBan Tuyen giao Tinh uy\b",
        r"\bBan Tuyen giao(?:\s+va\s+Dan van)?\s+Tinh uy\b",
    ),
    _kind(
        "UBMTTQ",
        "Ủy ban Mặt trận Tổ quốc Việt Nam tỉnh",
        "MTTQ",
        r"\b(?:Uy ban )?Mat tran To quoc(?: Viet Nam)?(?:\s+tinh)?\b",
        r"\bUBMTTQ(?:VN)?(?:\s+tinh)?\b",
        short="UBMTTQVN tỉnh",
    ),
    _kind(
        "HDTDKT",
        "Hội đồng Thi đua - Khen thưởng tỉnh",
        "HDTD",
        r"\bHoi dong Thi dua\s*-\s*Khen thuong\s+tinh\b",
    ),
    _kind("TDOAN", "Tỉnh Đoàn", "TD", r"\bTinh doan\b", r"\bTinh Doan TNCS Ho Chi Minh\b"),
    _kind("LDLD", "Liên đoàn Lao động tỉnh", "LDLD", r"\bLien doan Lao dong(?:\s+tinh)?\b"),
    _kind(
        "HLHPN",
        "Hội Liên hiệp Phụ nữ tỉnh",
        "PN",
        r"\bHoi Lien hiep Phu nu(?:\s+tinh)?\b",
        r"\bHoi LHPN(?:\s+tinh)?\b",
    ),
    _kind("HND", "Hội Nông dân tỉnh", "HND", r"\bHoi Nong dan(?:\s+tinh)?\b"),
    _kind("HCCB", "Hội Cựu chiến binh tỉnh", "CCB", r"\bHoi Cuu chien binh(?:\s+tinh)?\b"),
    _kind(
        "UBND-CAP-HUYEN",
        "Ủy ban nhân dân các huyện, thị xã, thành phố",
        "UBH",
        r"\b{UB}\s+(?:cac|cap)\s+huyen(?:\s*,\s*(?:thi xa|thanh pho|TP\.?|quan))*",
        r"\b{UB}\s+huyen\s*,\s*thi xa(?:\s*,\s*(?:thanh pho|TP\.?))?",
        short="UBND cấp huyện",
    ),
    _kind(
        "CAC-SBN",
        "Các sở, ban, ngành tỉnh",
        "SBN",
        r"\b(?:cac\s+)?so\s*,\s*ban\s*,\s*nganh(?:\s*,\s*(?:doan the|dia phuong))*"
        r"(?:\s+(?:cap\s+)?tinh)?",
    ),
    # --- newspapers and broadcasters: the province is part of their name -------------------
    _kind(
        "DPTTH",
        "Đài Phát thanh và Truyền hình",
        "PTTH",
        r"\bDai Phat thanh\s*(?:va|&|-|,)?\s*Truyen hinh\b",
        r"\bDai PT\s*(?:-|&|va)?\s*TH\b",
        short="Đài PT-TH",
        scope="media",
    ),
    # --- district-level units: the district goes into the code ----------------------------
    _kind(
        "VP-HDND-UBND",
        "Văn phòng Hội đồng nhân dân và Ủy ban nhân dân",
        "VP",
        r"\bVan phong\s+{HD}{AND}{UB}",
        r"\bVan phong\s+{UB}(?=\s+(?:huyen|thi xa|thanh pho|quan)\b)",
        short="VP HĐND và UBND",
        scope="district",
    ),
    _kind("PNV", "Phòng Nội vụ", "PNV", r"\bPhong Noi vu\b", scope="district"),
    _kind(
        "PVHTT",
        "Phòng Văn hóa và Thông tin",
        "VHTT",
        r"\bPhong Van hoa{AND}Thong tin\b",
        r"\bPhong VH\s*(?:&|va|-)?\s*TT\b",
        short="Phòng VH&TT",
        scope="district",
    ),
    _kind(
        "PTCKH",
        "Phòng Tài chính - Kế hoạch",
        "TCKH",
        r"\bPhong Tai chinh{AND}Ke hoach\b",
        r"\bPhong TC\s*(?:-|&)?\s*KH\b",
        short="Phòng TC-KH",
        scope="district",
    ),
    _kind(
        "PGDDT",
        "Phòng Giáo dục và Đào tạo",
        "GD",
        r"\bPhong Giao duc{AND}Dao tao\b",
        r"\bPhong GD\s*(?:&|va|-)?\s*DT\b",
        short="Phòng GD&ĐT",
        scope="district",
    ),
    _kind(
        "PLDTBXH",
        "Phòng Lao động - Thương binh và Xã hội",
        "LD",
        r"\bPhong Lao dong\s*-?\s*Thuong binh{AND}Xa hoi\b",
        r"\bPhong LD\s*-?\s*TB\s*(?:&|va|-)?\s*XH\b",
        scope="district",
    ),
    _kind(
        "PTNMT",
        "Phòng Tài nguyên và Môi trường",
        "TNMT",
        r"\bPhong Tai nguyen{AND}Moi truong\b",
        r"\bPhong TN\s*(?:&|va|-)?\s*MT\b",
        scope="district",
    ),
    _kind(
        "PKTHT",
        "Phòng Kinh tế và Hạ tầng",
        "KTHT",
        r"\bPhong Kinh te{AND}Ha tang\b",
        r"\bPhong KT\s*(?:&|va|-)?\s*HT\b",
        scope="district",
    ),
    _kind(
        "PNNPTNT",
        "Phòng Nông nghiệp và Phát triển nông thôn",
        "NN",
        r"\bPhong Nong nghiep{AND}Phat trien nong thon\b",
        scope="district",
    ),
    _kind("PYT", "Phòng Y tế", "YT", r"\bPhong Y te\b", scope="district"),
    _kind("PTP", "Phòng Tư pháp", "TP", r"\bPhong Tu phap\b", scope="district"),
    _kind(
        "TTVHTT",
        "Trung tâm Văn hóa, Thông tin và Thể thao",
        "TTVH",
        r"\bTrung tam Van hoa\s*[-,]?\s*Thong tin{AND}The thao\b",
        r"\bTrung tam Van hoa{AND}The thao(?:{AND}Truyen thanh)?\b",
        r"\bTrung tam VH\s*-?\s*TT\s*(?:-|&|va)?\s*TT\b",
        scope="district",
    ),
    _kind("DTT", "Đài Truyền thanh", "DTT", r"\bDai Truyen thanh\b", scope="district"),
    _kind(
        "CA",
        "Công an",
        "CA",
        r"\bCong an(?=\s+(?:huyen|thi xa|thanh pho|quan|cac huyen|cap huyen)\b)",
        scope="district",
    ),
    _kind(
        "BCHQS",
        "Ban Chỉ huy Quân sự",
        "QS",
        r"\bBan Chi huy Quan su\b",
        r"\bBan CHQS\b",
        scope="district",
    ),
    _kind(
        "HDTDKT",
        "Hội đồng Thi đua - Khen thưởng",
        "HDTD",
        r"\bHoi dong Thi dua\s*-\s*Khen thuong(?=\s+(?:huyen|thi xa|thanh pho|quan)\b)",
        scope="district",
    ),
    _kind(
        "UBND-CAP-XA",
        "Ủy ban nhân dân các xã, thị trấn",
        "UBX",
        r"\b{UB}\s+(?:cac|cap)\s+xa(?:\s*,\s*(?:phuong|thi tran))*",
        scope="district",
    ),
    _kind(
        "UBND",
        "Ủy ban nhân dân",
        "UB",
        r"\b{UB}(?=\s+(?:huyen|thi xa|thanh pho|TP\.?|quan)\s+(?-i:[A-Z]))",
        scope="district",
    ),
)

# "các đơn vị liên quan", "các cơ quan, đơn vị có liên quan": mentioned, but no unit to track.
_GENERIC = (
    # "Các phòng, ban chuyên môn thuộc UBND huyện", "các hội, đoàn thể tỉnh": collectives
    re.compile(
        r"\bcac\s+(?:phong|ban|hoi|doan the|nganh|to chuc)"
        r"(?:\s*,\s*(?:phong|ban|nganh|hoi|doan the|to chuc(?: chinh tri - xa hoi)?))*"
        r"(?:\s+(?:chuyen mon|doan the|thanh vien|chuc nang))?"
        r"(?:\s+(?:thuoc|truc thuoc)\s+(?:UBND|Uy ban nhan dan)\s+(?:tinh|huyen|xa))?"
        r"(?:\s+(?:tinh|huyen|xa))?\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:cac|nhung)\s+(?:(?:co quan|don vi|so|ban|nganh|dia phuong|doan the|to chuc|"
        r"ca nhan|phong|hoi|tap the)(?:\s*,\s*|\s+va\s+|\s+))+(?:tinh\s+|huyen\s+)?"
        r"(?:co\s+)?lien quan\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bcac\s+(?:co quan|don vi)(?:\s*,\s*(?:co quan|don vi|dia phuong|to chuc))*"
        r"(?:\s+(?:trong|tren dia ban)\s+tinh)?\b",
        re.IGNORECASE,
    ),
)

# Bare newspaper names: "Báo An Giang", "Báo Nhân Dân" (capitals keep "Báo cáo" out).
_NEWSPAPER = re.compile(r"\bBao((?:\s+[A-Z][A-Za-z]*)+)")
_PROPER = r"[A-Z][A-Za-z]*(?:\s+[A-Z][A-Za-z]*)*"
_DISTRICT_QUALIFIER = re.compile(
    r"\s+(?:(?P<group>(?i:cac|cap)\s+(?i:huyen)(?:\s*,\s*(?i:thi xa|thanh pho|TP\.?|quan))*)"
    r"|(?P<word>(?i:huyen|thi xa|thanh pho|quan)|TP\.?)(?:\s+(?P<name>" + _PROPER + r"))?)"
)
_PROVINCE_QUALIFIER = re.compile(r"\s+(?i:tinh)\b(?:\s+(?P<name>" + _PROPER + r"))?")

# Words a unit's name starts with, to recognise a unit heading not in the gazetteer.
UNIT_HEAD_WORDS = re.compile(
    r"(?:So|Ban|Phong|Van phong|Trung tam|Dai|Bao|Hoi|Cong an|Uy ban|UBND|Bo Chi huy|"
    r"Ban Chi huy|Thanh tra|Kho bac|Tinh doan|Huyen doan|Thanh doan|Lien doan|Cuc|Chi cuc|"
    r"Benh vien|Truong|Doan|Ngan hang|Buu dien|Vien|Quy|Hoi dong|Tong cong ty|Cong ty|"
    r"Lien minh|Mat tran|Tinh uy|Huyen uy|Bo|Vien kiem sat|Toa an)\b"
)


def find_units(text: str, ctx: Context) -> list[UnitMatch]:
    """Every unit (and generic mention) in ``text``, left to right, never overlapping."""
    folded = fold(text)
    found: list[UnitMatch] = []
    for kind in _KINDS:
        for pattern in kind.patterns:
            for match in pattern.finditer(folded):
                found.append(_resolve(kind, match.start(), match.end(), text, folded, ctx))
    for pattern in _GENERIC:
        for match in pattern.finditer(folded):
            found.append(
                UnitMatch(match.start(), match.end(), None, text[match.start() : match.end()])
            )
    for match in _NEWSPAPER.finditer(folded):
        found.append(_newspaper(match, text, ctx))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    chosen: list[UnitMatch] = []
    for m in sorted(found, key=lambda m: (-(m.end - m.start), m.start)):
        if all(m.end <= c.start or m.start >= c.end for c in chosen):
            chosen.append(m)
    # A person or a role as the assignee ("Giám đốc Sở Tài chính", "Đồng chí Nguyễn Văn A,
    # Phó Giám đốc Sở Nội vụ", "Thủ trưởng các sở, ban, ngành"): the unit behind the role.
    chosen = [_with_role(m, text, folded) for m in chosen]
    # A gazetteer unit followed by a lower level ("Hội Cựu chiến binh xã", "Ủy ban MTTQ
    # huyện") is that level's body, not the one the gazetteer knows: its form decides.
    chosen = [m for m in chosen if not _lower_level_follows(m, folded)]
    # the gazetteer first; a name it does not know is recognised by its form
    for start, end in _by_form(text, folded):
        name = text[start:end]
        # "Ủy ban nhân dân tỉnh" bare is the issuing body: reports go to it, it is not
        # given duties by its own plan (unless a role of its leadership is named)
        if _normal_name(name) == "uy ban nhan dan" and not _ROLE.search(folded[:start]):
            continue
        if all(end <= c.start or start >= c.end for c in chosen):
            if _normal_name(name) == "uy ban nhan dan":  # its leadership, named by a role
                level = re.sub(r"^(?:UBND|\S+ ban nhân dân)\s*", "", name)
                unit = Unit("UBND", f"Ủy ban nhân dân {level}".strip(), "UBND")
            else:
                unit = ctx.register.unit_for(_with_district(name, ctx))
            chosen.append(_with_role(UnitMatch(start, end, unit, name), text, folded))
    return sorted(chosen, key=lambda m: m.start)


_LEVEL_AFTER = re.compile(r"\s+(xa|huyen|phuong|thi tran|thi xa|quan|ap|khom)\b")


_ROLE = re.compile(
    r"(?:Dong chi\s+(?:[A-Z][A-Za-z]*\s*){0,5}?,?\s*)?"
    r"(?:(?:Pho|Uy vien)\s+)?(?:Giam doc|Thu truong|Chu tich|Truong ban|Truong phong|Truong|"
    r"Chanh Van phong|Chanh Thanh tra|Bi thu|Chi huy truong|Tong Bien tap|Hieu truong|"
    r"Cuc truong|Chi cuc truong|Vu truong|Lanh dao)(?:\s+(?:cac|Uy ban nhan dan|UBND))?\s+$"
)


def _with_role(match: UnitMatch, text: str, folded: str) -> UnitMatch:
    """The match widened to the role written before it, so that a sentence whose subject
    is a role starts with its unit."""
    head = folded[max(0, match.start - 80) : match.start]
    role = _ROLE.search(head)
    if role is None:
        return match
    start = match.start - (len(head) - role.start())
    return dataclasses.replace(match, start=start, text=text[start : match.end])


_DISTRICT_BODIES = re.compile(r"^(?:Phong|Trung tam|Cong an|Van phong|Ban|Hoi|Doan)\b")


def _with_district(name: str, ctx: Context) -> str:
    """Units are shared by every plan of a database: in a district's plan, its own bodies
    ("Phòng Nông nghiệp và Môi trường") carry the district, as the gazetteer's do."""
    folded = fold(name)
    if ctx.level != "district" or not ctx.district or not _DISTRICT_BODIES.match(folded):
        return name
    if _LEVEL_AFTER.search(folded) or re.search(r"\s(?:tinh|huyen)\b", folded):
        return name
    return f"{name} {ctx.district_word} {ctx.district}"


def _lower_level_follows(match: UnitMatch, folded: str) -> bool:
    after = _LEVEL_AFTER.match(folded, match.end)
    if match.unit is None or after is None:
        return False
    return after.group(1) not in fold(match.unit.name).lower()


# --- units recognised by the form of their name ----------------------------------------
# A Vietnamese body's name is a head word (Bộ, Sở, Cục, Chi cục, Trung tâm, Ủy ban nhân dân,
# Hội, Đoàn…) followed by its field, whose words are capitalised ("Sở Lao động - Thương binh
# và Xã hội", "Trung tâm Văn hóa, Thông tin và Thể thao"), and perhaps its level and place
# ("Ủy ban nhân dân huyện Phú Tân", "Công an tỉnh"). The name ends where the sentence's
# predicate begins ("… chủ trì", "… có trách nhiệm") or at punctuation.
_FORM_HEAD = re.compile(
    r"\b(?:Bo Chi huy(?: Quan su| Bo doi Bien phong)?|Ban Chi huy(?: Quan su)?|"
    r"(?:Uy|Uy) ban Mat tran To quoc(?: Viet Nam)?|Uy ban nhan dan|Uy ban MTTQ(?:VN)?|UBND|"
    r"UBMTTQ(?:VN)?|Chi cuc|Trung tam|Cong an|Van phong|Tieu ban|To cong tac|Ban Chi dao|"
    r"Ban To chuc|Ban Quan ly|Hoi dong|Kho bac|Thanh tra|Vien kiem sat|Toa an|Benh vien|"
    r"Tong cong ty|Cong ty|Ngan hang|Buu dien|Lien doan|Lien minh|Tinh doan|Huyen doan|"
    r"Thanh doan|Chi doan|Chi hoi|Chi bo|Ban Dieu hanh|Tram|Doan|Cuc|So|Bo|Ban|Phong|Hoi|Dai|"
    r"Vien|Truong|Quy)(?=\s)"
)
_LEVEL_PHRASE = re.compile(r"(tinh|huyen|xa|phuong|quan|ap|khom|cap|thanh pho|thi xa|thi tran)\b")
# Lower-case words that end a name: the predicate or a preposition begins.
_NAME_STOP = re.compile(
    r"(?:chu tri|phoi hop|co trach nhiem|chiu trach nhiem|thuc hien|to chuc|tham muu|"
    r"xay dung|huong dan|chuan bi|bo tri|tuyen truyen|dua tin|theo doi|kiem tra|ra soat|"
    r"tong hop|bao cao|trien khai|bao dam|dam bao|cu |phan cong|de xuat|tham dinh|cap phat|"
    r"lap |ban hanh|van dong|quan ly|ho tro|trinh |la |duoc |co |cung |voi |tai |theo |"
    r"trong |ve |cua |cho |de |nham |tiep |gui |phat |in |thong |cac |nhung |nay|do |khi |"
    r"sau |truoc |den |tu |va )"
)
_NEXT_WORD = re.compile(r"(\s*(?:,|-|–|&)?\s*|\s+)([A-Za-z0-9]+\.?)")
_MAX_LOWER_RUN = 4  # "Cựu thanh niên xung phong": a capitalised word's lower-case syllables


def _by_form(text: str, folded: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for head in _FORM_HEAD.finditer(folded):
        end = _name_end(folded, head.end())
        if end > head.end():
            spans.append((head.start(), end))
    return spans


def _name_end(folded: str, pos: int) -> int:
    """Where the name that starts before ``pos`` ends; ``pos`` when no word follows that
    belongs to a name (then it was a common word: "Ban hành", "Hội nghị")."""
    end = pos
    lower_run = 0
    capitals = 0
    in_place = False  # after a level word ("huyện", "xã"): only the place's name follows
    while True:
        m = _NEXT_WORD.match(folded, end)
        if m is None:
            return end
        sep, word = m.group(1), m.group(2).rstrip(".")
        rest = folded[m.start(2) :].lower() + " "
        if sep.strip() in {",", "&"} and not (word[:1].isupper() and not _FORM_HEAD.match(rest)):
            return end
        if sep.strip() == "," and _FORM_HEAD.match(folded, m.start(2)):
            return end
        if word[:1].isupper() or word.isdigit():
            if _FORM_HEAD.match(folded, m.start(2)) and sep.strip() in {",", ""} and capitals:
                return end
            capitals += 1
            lower_run = 0
        elif level := _LEVEL_PHRASE.match(rest):
            lower_run = 0
            capitals += 1
            in_place = True
            end = m.start(2) + level.end(1)
            continue
        elif word == "va" and re.match(r"\s+[A-Z]", folded[m.end() :]):
            pass
        elif (
            capitals and not in_place and lower_run < _MAX_LOWER_RUN and not _NAME_STOP.match(rest)
        ):
            lower_run += 1
        else:
            return end
        end = m.end() if not m.group(2).endswith(".") else m.end() - 1


def _resolve(kind: _Kind, start: int, end: int, text: str, folded: str, ctx: Context) -> UnitMatch:
    name, short = kind.name, kind.short_name
    if kind.variant and kind.variant[0].search(folded[start:end]):
        name, short = kind.variant[1], kind.variant[2]
    code = kind.code
    if kind.scope == "province":
        end = _extend_province(folded, start, end, ctx)
        return UnitMatch(start, end, Unit(code, name, kind.prefix, short), text[start:end])
    if kind.scope == "media":
        q = _PROVINCE_QUALIFIER.match(folded, end)
        if q:
            end = q.end()
            place_folded = q.group("name")
        else:
            named = re.match(r"\s+(" + _PROPER + r")", folded[end:])
            place_folded = named.group(1) if named else None
            if named:
                end += named.end()
        place = (
            text[end - len(place_folded) : end]
            if place_folded
            else (ctx.province if ctx.level == "province" else None)
        )
        if place and ctx.province and fold(place) != fold(ctx.province):
            code = f"{code}-{code_slug(place)}"
        if place:
            name, short = f"{name} {place}", f"{short} {place}" if short else None
        return UnitMatch(start, end, Unit(code, name, kind.prefix, short), text[start:end])
    # district-level
    q = _DISTRICT_QUALIFIER.match(folded, end)
    if q and q.group("group"):
        end = q.end()
        unit = Unit(f"{code}-CAP-HUYEN", f"{name} các huyện, thị xã, thành phố", kind.prefix + "H")
        return UnitMatch(start, end, unit, text[start:end])
    if q and q.group("name"):
        end = q.end()
        word = _level_word(q.group("word"))
        place = text[q.start("name") : q.end("name")]
        unit = Unit(
            f"{code}-{code_slug(place)}",
            f"{name} {word} {place}",
            f"{kind.prefix}-{initials(place)}",
            f"{short} {word} {place}" if short else None,
        )
        return UnitMatch(start, end, unit, text[start:end])
    if q and q.group("word"):
        end = q.end()
    if ctx.level == "district" and ctx.district:
        place = ctx.district
        unit = Unit(
            f"{code}-{code_slug(place)}",
            f"{name} {ctx.district_word} {place}",
            kind.prefix,
            f"{short} {ctx.district_word}" if short else None,
        )
        return UnitMatch(start, end, unit, text[start:end])
    # a district-level unit named bare in a provincial plan: the group of all districts
    unit = Unit(
        f"{code}-CAP-HUYEN", f"{name} các huyện, thị xã, thành phố", kind.prefix + "H", None
    )
    return UnitMatch(start, end, unit, text[start:end])


def _extend_province(folded: str, start: int, end: int, ctx: Context) -> int:
    """Take in a following "tỉnh" and the province's own name: "Sở Tài chính tỉnh An Giang"."""
    if not folded[start:end].lower().endswith("tinh"):
        q = re.match(r"\s+(?i:tinh)\b", folded[end:])
        if q:
            end += q.end()
    if ctx.province and folded[start:end].lower().endswith("tinh"):
        q = re.match(r"\s+" + re.escape(fold(ctx.province)) + r"\b", folded[end:])
        if q:
            end += q.end()
    return end


def _level_word(folded_word: str) -> str:
    word = folded_word.lower().rstrip(".")
    return {"huyen": "huyện", "thi xa": "thị xã", "thanh pho": "thành phố", "tp": "thành phố"}.get(
        word, "quận"
    )


def _newspaper(match: re.Match[str], text: str, ctx: Context) -> UnitMatch:
    start, end = match.start(), match.end()
    place = text[match.start(1) : match.end(1)].strip()
    code = "B" + initials(place)
    return UnitMatch(start, end, Unit(code, f"Báo {place}", code), text[start:end])


def group_unit(text: str) -> Unit:
    """The unit standing for a collective subject: "các sở, ban, ngành có liên quan" ->
    ``NHOM-CSBNCLQ`` named "Các sở, ban, ngành có liên quan"."""
    name = text.strip().rstrip(".;:, ")
    name = name[:1].upper() + name[1:]
    code = f"NHOM-{initials(name) or 'DV'}"[:64]
    return Unit(code, name, code, None, known=False, group=True)


def unknown_unit(name: str, taken: set[str]) -> Unit:
    """A unit not in the gazetteer: its code is the initials of its name ("HLHPNT")."""
    # "Phòng Nông nghiệp và Môi trường huyện Phú Tân" -> PNNMT-PHUTAN, as the gazetteer's
    # district units are coded
    place = re.search(r"\s(?:huyen|thi xa|thanh pho|quan|xa|phuong)\s+([A-Z].*)$", fold(name))
    if place:
        base = f"{initials(name[: place.start()]) or 'DV'}-{code_slug(place.group(1))}"
    else:
        base = initials(name) or "DV"
    code = base
    n = 2
    while code in taken:
        code = f"{base}{n}"
        n += 1
    return Unit(code, name, code, None, known=False)


_CONNECTOR = re.compile(r"\s*(?:,|;|\bva\b|&|\bcung\b)\s*", re.IGNORECASE)


def leading_units(text: str, ctx: Context, at: int = 0) -> tuple[list[UnitMatch], int]:
    """The units listed at position ``at`` of ``text`` ("Sở Tài chính, Sở Nội vụ và các đơn vị
    liên quan"), and where the list ends."""
    matches = find_units(text, ctx)
    folded = fold(text)
    by_start = {m.start: m for m in matches}
    out: list[UnitMatch] = []
    pos = at
    while True:
        m = by_start.get(_skip_space(folded, pos))
        if m is None:
            break
        out.append(m)
        pos = m.end
        sep = _CONNECTOR.match(folded, pos)
        if sep is None or _skip_space(folded, sep.end()) not in by_start:
            break
        if sep.group().strip() == "," and _APPOSITION.match(folded, _skip_space(folded, sep.end())):
            break  # "Giám đốc Sở Nội vụ, Trưởng Tiểu ban …": the same person's second role
        pos = sep.end()
    return out, pos


_APPOSITION = re.compile(r"(?:Pho\s+)?Truong\s+(?:Tieu ban|Ban|To|Doan)\b", re.IGNORECASE)


def _skip_space(folded: str, pos: int) -> int:
    while pos < len(folded) and folded[pos] == " ":
        pos += 1
    return pos
