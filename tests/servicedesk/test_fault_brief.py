"""The fault-handling brief (OPS-4): content of the Document, PDF in Chinese with the embedded
font rendered to an image, DOCX parsed back."""

import io
import re
from datetime import timedelta

import docx
import pypdfium2 as pdfium
from sqlalchemy import select

from cityops.reports.document import KeyValues, Signatures, Table
from cityops.reports.render import to_docx, to_pdf
from cityops.servicedesk import fault_brief, fault_service
from cityops.servicedesk.fault_models import FaultGrade
from tests.servicedesk.test_fault_service import T0, roster  # noqa: F401  (fixture)

HEADINGS = ["一、故障概况", "二、处置经过", "三、原因分析", "四、影响范围", "五、处置措施", "六、整改建议",
            "七、时限达成情况"]


def handled_fault(s):
    g = s.scalar(select(FaultGrade).where(FaultGrade.level == 2))
    f = fault_service.open_fault(s, title="城区之眼视频调阅服务中断", grade_id=g.id,
                                 occurred_at=T0 - timedelta(minutes=12), detected_at=T0 - timedelta(minutes=8),
                                 system_codes=["SYS-EYE"], actor="duty1", now=T0, handler="王工",
                                 description="值班员发现城区之眼大屏无法调阅华阳路街道视频。")
    fault_service.add_note(s, f.id, text="联系视频平台厂商远程排查，确认流媒体节点无响应", author="duty1",
                           now=T0 + timedelta(minutes=5))
    fault_service.move(s, f.id, "responding", actor="王工", now=T0 + timedelta(minutes=10))
    fault_service.move(s, f.id, "restored", actor="王工", now=T0 + timedelta(minutes=290))
    fault_service.update_fault(s, f.id, cause="流媒体节点内存泄漏导致服务僵死。", impact="华阳路、江苏路街道视频调阅中断约 5 小时。",
                               recovery="重启流媒体服务；切换备用节点。\n确认各街道调阅恢复正常。",
                               follow_up="升级流媒体软件至厂商修复版本；增加内存占用监测。",
                               actor="王工", now=T0 + timedelta(minutes=295))
    return f


def test_brief_document_content(db, roster):  # noqa: F811
    with db.session() as s:
        f = handled_fault(s)
        doc = fault_brief.brief_document(s, f.id, now=T0 + timedelta(minutes=300), author="李四")
        assert doc.title == "故障处理简报" and f.number in doc.header
        head = dict(doc.preamble[0].rows)
        assert head["编号"] == f.number and head["等级"] == "二级（重大）" and head["状态"] == "已恢复"
        assert head["编制时间"] == "2026-09-30 19:00"
        assert [sec.title for sec in doc.sections][:7] == HEADINGS
        overview = dict(doc.sections[0].blocks[0].rows)
        assert overview["发生时间"] == "2026-09-30 13:48" and overview["恢复时间"] == "2026-09-30 18:50"
        assert overview["持续时长"] == "5小时2分钟"
        assert overview["影响系统"].endswith("（SYS-EYE）") and overview["责任人"] == "王工"
        steps = doc.sections[1].blocks[0]
        assert isinstance(steps, Table) and any("流媒体节点无响应" in r[2] for r in steps.rows)
        targets = doc.sections[6].blocks[0]
        assert targets.rows[0][4].startswith("达标") and targets.rows[1][4].startswith("超时")  # 240 min restore
        assert [p.text for p in doc.sections[4].blocks] == ["重启流媒体服务；切换备用节点。", "确认各街道调阅恢复正常。"]
        sig = doc.sections[-1].blocks[0]
        assert isinstance(sig, Signatures) and sig.roles == ["编制人", "审核人", "项目经理"]
        assert sig.names == {"编制人": "李四"}
        assert isinstance(doc.sections[0].blocks[0], KeyValues)


def test_brief_pdf_is_chinese_with_embedded_font_and_renders(db, roster, tmp_path):  # noqa: F811
    with db.session() as s:
        f = handled_fault(s)
        pdf = to_pdf(fault_brief.brief_document(s, f.id, now=T0 + timedelta(minutes=300)))
    assert b"/FontFile2" in pdf and b"/ToUnicode" in pdf and re.search(rb"/[A-Z]{6}\+DroidSansFallback", pdf)
    document = pdfium.PdfDocument(pdf)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    flat = re.sub(r"\s+", "", text)
    for heading in HEADINGS:
        assert heading in flat
    for value in (f.number, "二级（重大）", "城区之眼视频调阅服务中断", "流媒体节点内存泄漏导致服务僵死", "编制人", "审核人", "项目经理"):
        assert re.sub(r"\s+", "", value) in flat, value
    image = document[0].render(scale=1.5).to_pil().convert("L")
    image.save(tmp_path / "brief-p1.png")
    dark = sum(1 for v in image.tobytes() if v < 128) / (image.width * image.height)
    assert 0.01 < dark < 0.5, dark  # text on the page, not a blank or black page


def test_brief_docx_parses_back(db, roster):  # noqa: F811
    with db.session() as s:
        f = handled_fault(s)
        raw = to_docx(fault_brief.brief_document(s, f.id, now=T0 + timedelta(minutes=300)))
    word = docx.Document(io.BytesIO(raw))
    headings = [p.text for p in word.paragraphs if p.style.name == "Heading 1"]
    assert headings[:7] == HEADINGS
    first = word.tables[0]
    assert [r.cells[0].text for r in first.rows] == ["编号", "等级", "状态", "编制时间"]
    assert first.rows[0].cells[1].text == f.number
    timeline = next(t for t in word.tables if t.rows[0].cells[0].text == "时间")
    assert [c.text for c in timeline.rows[0].cells] == ["时间", "类别", "经过", "记录人"]
    assert any("流媒体节点无响应" in r.cells[2].text for r in timeline.rows)
    assert [r.cells[0].text for r in word.tables[-1].rows] == ["编制人：", "审核人：", "项目经理："]
