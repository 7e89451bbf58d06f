"""Theory: the mathematics of the residual block, each idea linked to the page that measures it live.

No computation here: every claim on this page is one a science page reproduces with numbers.
"""

from __future__ import annotations

import streamlit as st

from lab import pages
from lab.pages import PageInfo
from resnet_core.config import SHORTCUT_OPTIONS

REFERENCES = (
    ("He, Zhang, Ren, Sun (2015). Deep Residual Learning for Image Recognition.", "1512.03385"),
    ("He, Zhang, Ren, Sun (2016). Identity Mappings in Deep Residual Networks.", "1603.05027"),
    ("Veit, Wilber, Belongie (2016). Residual Networks Behave Like Ensembles of Relatively Shallow Networks.", "1605.06431"),
    (
        "Balduzzi, Frean, Leary, Lewis, Ma, McWilliams (2017). The Shattered Gradients Problem: If resnets are the answer, "
        "then what is the question?",
        "1702.08591",
    ),
    ("Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the Loss Landscape of Neural Nets.", "1712.09913"),
    ("Yang, Pennington, Rao, Sohl-Dickstein, Schoenholz (2019). A Mean Field Theory of Batch Normalization.", "1902.08129"),
)


def see_it(page: PageInfo, label: str) -> None:
    st.page_link(page.file, label=label, icon=":material/arrow_forward:")


st.title("Theory: why the shortcut helps")

st.header("1. The main path")
st.markdown("Two layers of a plain network, with weights W, biases b and a nonlinearity g (ReLU here):")
st.latex(r"z^{[l+1]} = W^{[l+1]} a^{[l]} + b^{[l+1]}, \qquad a^{[l+1]} = g\!\left(z^{[l+1]}\right)")
st.latex(r"z^{[l+2]} = W^{[l+2]} a^{[l+1]} + b^{[l+2]}, \qquad a^{[l+2]} = g\!\left(z^{[l+2]}\right)")
st.markdown(
    "Stacking more of these should never hurt in principle (extra layers could learn the identity), yet in "
    "practice deeper plain nets reach a **higher training error**: the *degradation* problem."
)
see_it(pages.DEGRADATION, "Degradation: measure it for depths 8 to 110")

st.header("2. The residual block")
st.markdown("The shortcut adds the block's input **before** the last nonlinearity (He et al.'s original block):")
st.latex(r"a^{[l+2]} = g\!\left(z^{[l+2]} + a^{[l]}\right) = g\!\left(F(a^{[l]}) + a^{[l]}\right)")
st.markdown(
    "The block now only has to learn the *residual* F, the change to its input. A plain block is the same "
    "formula without the + a[l]."
)
see_it(pages.GRADIENT_FLOW, "Gradient flow: plain and residual side by side")

st.header("3. The identity argument, and L2")
st.markdown("L2 regularisation (weight decay) pulls W and b toward 0. If the block's last layer reaches 0:")
st.latex(
    r"W^{[l+2]} = 0,\; b^{[l+2]} = 0 \;\Rightarrow\; z^{[l+2]} = 0 \;\Rightarrow\; "
    r"a^{[l+2]} = g\!\left(a^{[l]}\right) = a^{[l]}"
)
st.markdown(
    "The last step needs g(a) = a for the block's input a, true for ReLU because a[l] is itself a ReLU output "
    "(a ≥ 0). So a residual block can always fall back to doing nothing, and adding blocks cannot make the "
    "function class worse. The plain block with the same zero weights outputs g(0) = 0 and the signal is gone. "
    "With BatchNorm, the role of W[l+2], b[l+2] is played by the second BN's scale and shift."
)
see_it(pages.IDENTITY, "Identity & L2: zero the branches and measure max |a[l+2] − a[l]|")

st.header("4. Matching dimensions with W_s")
st.markdown(
    "Where a block halves the map and doubles the channels, a[l] and z[l+2] differ in shape, so the shortcut "
    "changes shape as well:"
)
st.latex(r"a^{[l+2]} = g\!\left(z^{[l+2]} + W_s\, a^{[l]}\right)")
st.markdown(" ".join(f"Option **{option}**: {text}." for option, text in SHORTCUT_OPTIONS.items()))
see_it(pages.SHORTCUTS, "Shortcuts & dimensions: shapes, parameters, and A vs B vs C trained")

st.header("5. The gradient superhighway")
st.markdown("Differentiate the block (ignoring the final g for a moment, as in He et al. 2016's pre-activation form):")
st.latex(
    r"a^{[l+2]} = a^{[l]} + F(a^{[l]}) \;\Rightarrow\; "
    r"\frac{\partial L}{\partial a^{[l]}} = \frac{\partial L}{\partial a^{[l+2]}} "
    r"\left(1 + \frac{\partial F}{\partial a^{[l]}}\right)"
)
st.markdown(
    "The 1 carries the gradient from the loss to every block unchanged, whatever the branches do; over many "
    "blocks the products of (1 + ∂F/∂a) don't shrink to 0 the way products of small Jacobians do. "
    "**What the lab measures, though:** with BatchNorm, the deep *plain* nets' gradients don't vanish at "
    "initialisation, they *grow* toward the input (Yang et al. 2019; first/last ratio in the hundreds at 56 layers). "
    "Without BN the measurement depends on more than depth: on the 8x8 digits the plain net's backward signal falls "
    "by four to five decades toward the input, most of it from the 3x3 convs' zero padding on the 4x4 and 2x2 maps "
    "(circular padding or a larger input removes most of the fall), while the residual net's *grows* toward the "
    "input, since every block adds its branch to its input. The Gradient Flow page measures both, with the other "
    "padding and input size beside them."
)
see_it(pages.GRADIENT_FLOW, "Gradient flow: per-layer gradient norms at init and while training")
see_it(pages.DEGRADATION, "Degradation: the gradient ratio at initialisation, per depth")
st.markdown(
    "Dropping the final g is exactly what He et al. (2016) did: the *pre-activation* unit "
    "a[l+2] = a[l] + F(a[l]) puts BN and g inside the branch, so the shortcut path holds only additions."
)
see_it(pages.PREACTIVATION, "Pre-activation: the backward signal with g on and off the shortcut path, and both units trained")

st.header("6. An ensemble of paths, mostly short")
st.markdown(
    "Unroll n residual blocks: each input reaches the output along 2^n paths, one for every choice of branch or "
    "shortcut in each block. Veit, Wilber & Belongie (2016) argued that a residual net behaves like an ensemble of "
    "these paths: deleting one block removes only some of them, so the net barely notices, while a plain net has one "
    "path and breaks. The number of paths of length k is a binomial coefficient:"
)
st.latex(r"\#\{\text{paths of length } k\} = \binom{n}{k}, \qquad \sum_{k=0}^{n} \binom{n}{k} = 2^n")
st.markdown("and since each branch on a path scales its gradient, most of the gradient comes from the short ones.")
see_it(pages.LESION, "Lesion & paths: delete blocks at test time; measure the gradient per path length")

st.header("7. Why shortcuts help optimisation")
st.markdown(
    "Balduzzi et al. (2017): in a deep plain stack the gradient with respect to the input decorrelates from one "
    "input to the next (white noise), while with shortcuts it stays correlated (brown noise), so a gradient step "
    "means the same thing for nearby inputs. Li et al. (2018): along filter-normalised random directions the loss "
    "around a trained plain net becomes chaotic with depth, while its residual twin's stays a smooth basin."
)
see_it(pages.LANDSCAPE, "Shattered gradients: dy/dx over a line of inputs and its autocorrelation, plain vs residual")
see_it(pages.LANDSCAPE, "Loss landscapes: 1-D and 2-D slices around the trained weights, plain vs residual")

st.header("References")
for text, arxiv in REFERENCES:
    st.markdown(f"- {text} [arXiv:{arxiv}](https://arxiv.org/abs/{arxiv})")
st.caption(
    "Veit et al., Balduzzi et al. and Li et al. explain *why* further (ensembles of shallow paths, shattered "
    "gradients, loss landscapes); this lab's pages measure the claims of both He et al. papers, Veit et al., "
    "Balduzzi et al., Li et al. and Yang et al."
)
