"""The HTML of the disagreement page: one file, its style and script inline.

Nothing is fetched from a network and nothing is loaded with ``fetch`` (which
browsers refuse for ``file://`` pages): pictures are files referenced by
relative paths, the summary figures data URIs. A page of thousands of images
stays quick because cards off screen are not drawn (``content-visibility:
auto``) and their pictures are CSS backgrounds, fetched only for cards drawn;
the larger pictures load only when asked for. Without JavaScript the page
still shows every card, worst first; the script adds the filters, the sort
orders and the larger view. The filters can be set from the address, e.g.
``disagreement.html#annotator=A01&tool=T3``, so a filtered view can be shared.
"""

import base64
import json
from html import escape

import numpy as np

_SHORT = {
    "dice": "Dice",
    "jaccard": "Jaccard",
    "hausdorff": "HD",
    "hd95": "HD95",
    "assd": "ASSD",
    "hausdorff_normalized": "HD/diag",
    "hd95_normalized": "HD95/diag",
    "assd_normalized": "ASSD/diag",
    "surface_dice": "NSD",
    "boundary_f1": "BF1",
}

_CSS = """
:root{--bg:#f6f6f4;--fg:#1d1d1f;--muted:#666;--card:#fff;--line:#ddd}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 background:var(--bg);color:var(--fg)}
header,section,#controls{padding:12px 20px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:15px;margin:0}
.lede{color:var(--muted);margin:0}
#summary .figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
#summary .figs img{background:#fff;border:1px solid var(--line);width:380px;max-width:100%;
 height:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:2px 8px;text-align:right;border-bottom:1px solid var(--line)}
th:first-child,td:first-child{text-align:left}
.tables{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start;margin-top:12px}
.matrix td{text-align:center;min-width:44px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;
 margin-right:4px;border:1px solid #0004}
#controls{position:sticky;top:0;z-index:2;background:var(--bg);border-bottom:1px solid var(--line);
 display:flex;flex-wrap:wrap;gap:12px;align-items:center}
#controls label{display:flex;gap:4px;align-items:center}
#count{color:var(--muted);margin-left:auto}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:14px;
 padding:14px 20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px;
 content-visibility:auto;contain-intrinsic-size:auto 430px}
.card[hidden]{display:none}
.card .head{display:flex;gap:8px;align-items:baseline;flex-wrap:wrap}
.rank{color:var(--muted)}
.iaa{margin-left:auto;font-weight:600}
.iaa.low{color:#b00020}
.pics{display:flex;gap:6px;margin:8px 0}
.pics figure{margin:0;flex:1;min-width:0}
.pic{width:100%;background:#606060 center/100% 100% no-repeat;border-radius:3px}
.pic[data-large]{cursor:zoom-in}
figcaption{font-size:12px;color:var(--muted)}
.legend{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:2px 14px;font-size:13px}
.legend li.on{font-weight:700;text-decoration:underline}
details{margin-top:6px}
summary{cursor:pointer;color:var(--muted)}
details table{font-size:12px;margin-top:4px}
.note{color:var(--muted);font-size:12px}
dialog{max-width:96vw;max-height:96vh;border:0;border-radius:6px;padding:10px}
dialog .pics img{max-height:80vh;width:auto;max-width:46vw}
"""

_SCRIPT = """
(function(){
var cards=Array.prototype.slice.call(document.querySelectorAll('.card'));
var grid=document.getElementById('cards');
var sel={annotator:document.getElementById('f-annotator'),tool:document.getElementById('f-tool'),
 sort:document.getElementById('f-sort'),q:document.getElementById('f-q')};
var count=document.getElementById('count');
function has(list,v){return (' '+list+' ').indexOf(' '+v+' ')>=0;}
function iaa(c){var v=parseFloat(c.dataset.iaa);return isNaN(v)?null:v;}
var orders={
 worst:function(a,b){return (+a.dataset.rank)-(+b.dataset.rank);},
 best:function(a,b){var x=iaa(a),y=iaa(b);if(x===null||y===null){return (x===null)-(y===null);}
  return y-x||(+a.dataset.rank)-(+b.dataset.rank);},
 id:function(a,b){return a.dataset.id<b.dataset.id?-1:a.dataset.id>b.dataset.id?1:0;},
 masks:function(a,b){return (+b.dataset.k)-(+a.dataset.k)||(+a.dataset.rank)-(+b.dataset.rank);}
};
var order='worst',marked='';
function apply(user){
 var a=sel.annotator.value,t=sel.tool.value,q=sel.q.value.trim().toLowerCase(),n=0;
 var o=orders[sel.sort.value]?sel.sort.value:'worst';
 // The cards come worst first: moving 2,000 of them is only done for another order.
 if(o!==order){cards.sort(orders[o]);var frag=document.createDocumentFragment();
  cards.forEach(function(c){frag.appendChild(c);});grid.appendChild(frag);order=o;}
 cards.forEach(function(c){
  var ok=(!a||has(c.dataset.a,a))&&(!t||has(c.dataset.t,t))&&
   (!q||c.dataset.id.toLowerCase().indexOf(q)>=0);
  if(c.hidden===ok){c.hidden=!ok;}if(ok){n++;}});
 if(a!==marked){
  document.querySelectorAll('.legend li.on').forEach(function(li){li.classList.remove('on');});
  if(a){document.querySelectorAll('.legend li[data-a="'+a+'"]').forEach(function(li){
   li.classList.add('on');});}
  marked=a;}
 count.textContent='showing '+n+' of '+cards.length+' images';
 var h=[];['annotator','tool','sort','q'].forEach(function(k){
  var el=sel[k],v=el.value;if(v&&!(k==='sort'&&v==='worst')){
   var name=el.tagName==='SELECT'&&k!=='sort'?el.options[el.selectedIndex].dataset.name:v;
   h.push(k+'='+encodeURIComponent(name));}});
 if(user&&history.replaceState){
  history.replaceState(null,'',h.length?'#'+h.join('&'):location.pathname+location.search);}
}
function fromHash(){
 location.hash.slice(1).split('&').forEach(function(kv){
  var i=kv.indexOf('=');if(i<0){return;}
  var k=kv.slice(0,i),v=decodeURIComponent(kv.slice(i+1)),el=sel[k];
  if(!el){return;}
  if(el.tagName==='SELECT'&&k!=='sort'){
   for(var j=0;j<el.options.length;j++){if(el.options[j].dataset.name===v){el.selectedIndex=j;}}
  }else{el.value=v;}});
}
function byUser(){apply(true);}
['annotator','tool','sort'].forEach(function(k){sel[k].addEventListener('change',byUser);});
sel.q.addEventListener('input',byUser);
var cls=document.getElementById('f-class');
if(cls){cls.addEventListener('change',function(){location.href=cls.value+location.hash;});}
fromHash();apply(false);
var dlg=document.getElementById('viewer');
grid.addEventListener('click',function(e){
 var pic=e.target.closest('.pic[data-large]');if(!pic||!dlg.showModal){return;}
 var card=pic.closest('.card'),big=dlg.querySelectorAll('img');
 card.querySelectorAll('.pic[data-large]').forEach(function(s,i){
  if(big[i]){big[i].src=s.dataset.large;big[i].alt=s.getAttribute('aria-label');}});
 dlg.querySelector('h2').textContent=card.querySelector('h2').textContent;
 dlg.showModal();});
dlg.addEventListener('click',function(){dlg.close();});
})();
"""


def _num(value):
    """A metric value for a table cell: 3 decimals below 1, 3 significant digits above."""
    if value is None or not np.isfinite(value):
        return "–"
    return (
        f"{value:.3f}"
        if abs(value) < 1
        else f"{value:.3g}"
        if abs(value) < 1000
        else f"{value:.0f}"
    )


def _data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _token(values, index):
    """Space-separated codes (``a3 a7``) of the values a card holds, for the filters."""
    return " ".join(sorted({index[v] for v in values if v in index}))


def _options(label, key, values, index):
    rows = [f'<option value="">every {label}</option>']
    rows.extend(
        f'<option value="{index[v]}" data-name="{escape(str(v))}">{escape(str(v))}</option>'
        for v in values
    )
    return f'<label>{label} <select id="f-{key}">' + "".join(rows) + "</select></label>"


def _class_control(navigation, current):
    """The class control of a label-map study: a link to each class's page."""
    if not navigation:
        return ""
    options = "".join(
        f'<option value="{escape(file)}"{" selected" if file == current else ""}>'
        f"{escape(label)}</option>"
        for label, file in navigation
    )
    return f'<label>class <select id="f-class">{options}</select></label>'


def _pairs_table(group, metric_columns, metric_names):
    head = "".join(
        f'<th title="{escape(name)}">{_SHORT.get(name, escape(name))}</th>'
        for name in (metric_names[c] for c in metric_columns)
    )
    rows = []
    for row in group.itertuples(index=False):
        values = row._asdict()
        cells = "".join(f"<td>{_num(values[c])}</td>" for c in metric_columns)
        rows.append(
            f"<tr><td>{escape(str(values['annotator1']))} – "
            f"{escape(str(values['annotator2']))}</td>{cells}</tr>"
        )
    return f"<table><tr><th>pair</th>{head}</tr>{''.join(rows)}</table>"


def _card(card, rank, stats, pairs_by_image, metric_columns, metric_names, colours, indexes):
    image_id = card["image_id"]
    row = stats.loc[image_id] if image_id in stats.index else None
    iaa = float(row["dice_score_mean"]) if row is not None else float("nan")
    n_pairs = int(row["n_pairs"]) if row is not None else 0
    masks = card["masks"]
    annotators = [m["annotator"] for m in masks]
    tools = [m["tool"] for m in masks if m["tool"] is not None]
    eid = escape(str(image_id))
    pictures = []
    for kind, caption in (("outlines", "outlines"), ("map", "disagreement (entropy)")):
        src, (height, width) = card["files"][kind]
        large = card["files"].get(kind + "-large")
        extra = f' data-large="{escape(large[0])}"' if large else ""
        pictures.append(
            # A CSS background, not an <img>: the browser fetches it only when the
            # card is drawn, and content-visibility skips cards far from the screen.
            # Chromium fetched every lazy <img> of a file:// page of 2,000 cards.
            f'<figure><div class="pic" role="img" aria-label="{caption} of {eid}" '
            f"style=\"background-image:url('{escape(src)}');aspect-ratio:{width}/{height}\"{extra}>"
            f"</div><figcaption>{caption}</figcaption></figure>"
        )
    legend = "".join(
        f'<li data-a="{indexes["annotator"].get(m["annotator"], "")}">'
        f'<span class="sw" style="background:{colours[m["annotator"]]}"></span>'
        f"{escape(str(m['annotator']))}"
        + "".join(f" · {escape(str(m[f]))}" for f in ("tool", "skill") if m[f] is not None)
        + f' <span title="Dice with the consensus of the other annotators">'
        f"vs others {_num(m['loo'])}</span></li>"
        for m in masks
    )
    group = pairs_by_image.get(image_id)
    pairs = (
        f"<details><summary>{n_pairs} pair(s)</summary>"
        f"{_pairs_table(group, metric_columns, metric_names)}</details>"
        if group is not None and len(group)
        else '<p class="note">fewer than two annotator masks: no agreement</p>'
    )
    where = ""
    if card["slice"] is not None:
        plane, depth = card["slice"]
        where = (
            f'<p class="note">slice {plane} (counted from 0) of {depth} along the first '
            "axis, through the centre of the masks' union</p>"
        )
    low = " low" if np.isfinite(iaa) and iaa < 0.7 else ""
    iaa_text = _num(iaa) if np.isfinite(iaa) else "–"
    return (
        f'<article class="card" data-rank="{rank}" data-id="{eid}" '
        f'data-iaa="{iaa if np.isfinite(iaa) else ""}" data-k="{len(masks)}" '
        f'data-a="{_token(annotators, indexes["annotator"])}" '
        f'data-t="{_token(tools, indexes["tool"])}">'
        f'<div class="head"><span class="rank">#{rank}</span><h2>{eid}</h2>'
        f'<span class="iaa{low}" title="mean pairwise Dice">IAA {iaa_text}</span></div>'
        f'<div class="pics">{"".join(pictures)}</div>'
        f'<ul class="legend">{legend}</ul>{where}{pairs}</article>'
    )


def _annotator_table(rows):
    body = "".join(
        f'<tr><td><span class="sw" style="background:{r["colour"]}"></span>'
        f"{escape(str(r['annotator']))}</td><td>{escape(', '.join(r['tools']))}</td>"
        f"<td>{escape(', '.join(r['skills']))}</td><td>{r['images']}</td>"
        f"<td>{_num(r['loo_mean'])}</td><td>{_num(r['loo_median'])}</td></tr>"
        for r in rows
    )
    return (
        "<table><caption>Each annotator's Dice with the consensus of the others "
        "(worst first)</caption><tr><th>annotator</th><th>tools</th><th>skill</th>"
        f"<th>images</th><th>mean</th><th>median</th></tr>{body}</table>"
    )


def _matrix_table(codes, matrix):
    head = "".join(f"<th>{escape(str(c))}</th>" for c in codes)
    rows = []
    for a in codes:
        cells = []
        for b in codes:
            mean, n = matrix.get((a, b), (None, 0))
            if mean is None:
                cells.append("<td></td>")
                continue
            # Lighter is better: red where two annotators agree least.
            shade = int(round(255 * min(1.0, max(0.0, (mean - 0.5) / 0.5))))
            cells.append(
                f'<td style="background:rgb(255,{shade},{shade})" '
                f'title="{n} pair(s)">{_num(mean)}</td>'
            )
        rows.append(f"<tr><th>{escape(str(a))}</th>{''.join(cells)}</tr>")
    return (
        '<table class="matrix"><caption>Mean pairwise Dice of every two annotators '
        f"(over the images both marked)</caption><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


def page(
    *,
    title,
    cards,
    stats,
    pairs_by_image,
    metric_columns,
    metric_names,
    figures,
    annotators,
    matrix,
    colours,
    consensus,
    table_files,
    navigation=None,
    current=None,
):
    """The whole page as a string.

    ``navigation`` lists ``(label, file)`` of the pages of a label-map study
    (every class, then one per class); the class control moves between them.
    """
    annotator_values = sorted(colours, key=str)
    tool_values = sorted(
        {m["tool"] for c in cards for m in c["masks"] if m["tool"] is not None}, key=str
    )
    indexes = {
        "annotator": {v: f"a{i}" for i, v in enumerate(annotator_values)},
        "tool": {v: f"t{i}" for i, v in enumerate(tool_values)},
    }
    by_id = {c["image_id"]: c for c in cards}
    ordered = [by_id[c["image_id"]] for c in cards]
    body = "\n".join(
        _card(card, rank, stats, pairs_by_image, metric_columns, metric_names, colours, indexes)
        for rank, card in enumerate(ordered, start=1)
    )
    n_masks = sum(len(c["masks"]) for c in cards)
    iaa = stats["dice_score_mean"].to_numpy(dtype=float)
    finite = iaa[np.isfinite(iaa)]
    lede = (
        f"{len(cards)} images, {n_masks} annotator masks, {len(colours)} annotators. "
        "Sorted by agreement (IAA, the mean pairwise Dice), worst first"
        + (
            f"; mean IAA {_num(finite.mean())}, median {_num(float(np.median(finite)))}."
            if finite.size
            else "."
        )
    )
    links = ""
    if table_files:
        links = (
            f' Tables: <a href="{escape(table_files[0])}">pairs</a>, '
            f'<a href="{escape(table_files[1])}">images</a>.'
        )
    figs = "".join(f'<img src="{_data_uri(png)}" alt="{escape(name)}">' for name, png in figures)
    codes = [r["annotator"] for r in annotators]
    matrix_html = _matrix_table(codes, matrix) if matrix is not None and codes else ""
    consensus_name = {"staple": "STAPLE", "majority": "majority vote"}[consensus]
    controls = (
        _options("annotator", "annotator", annotator_values, indexes["annotator"])
        + _options("tool", "tool", tool_values, indexes["tool"])
        + _class_control(navigation, current)
        + '<label>sort <select id="f-sort"><option value="worst">worst agreement first</option>'
        '<option value="best">best agreement first</option><option value="id">image id</option>'
        '<option value="masks">most masks first</option></select></label>'
        '<label>image <input id="f-q" type="search" placeholder="id contains"></label>'
        f'<span id="count">{len(cards)} images</span>'
    )
    meta = json.dumps({"images": len(cards), "masks": n_masks, "annotators": len(colours)})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="generator" content="skiaa">
<title>{escape(title)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>{escape(title)}</h1><p class="lede">{escape(lede)}{links}</p>
<p class="note">Each card: every annotator's outline in their colour, and the disagreement map
(the entropy of the annotators' vote at each pixel: dark where they agree, bright where they
split half and half). "vs others": the Dice of an annotator's mask with the {consensus_name}
consensus of the other annotators' masks.</p></header>
<section id="summary"><div class="figs">{figs}</div>
<div class="tables">{_annotator_table(annotators)}{matrix_html}</div></section>
<div id="controls">{controls}</div>
<main id="cards">
{body}
</main>
<dialog id="viewer"><h2></h2><div class="pics"><img alt=""><img alt=""></div>
<p class="note">click to close</p></dialog>
<script type="application/json" id="skiaa-page">{meta}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
