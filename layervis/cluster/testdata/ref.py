"""scikit-learn references for the cluster tests.

Usage: python3 ref.py OP IN.json OUT.json

IN.json holds the operation's arguments; OUT.json receives the results.
Nothing here comes from layervis.
"""
import json
import sys

import numpy as np


def matrix(a):
    return np.asarray(a["x"], dtype=np.float64).reshape(a["n"], a["d"])


def op_pca(a):
    import sklearn
    from sklearn.decomposition import PCA
    out = []
    for case in a["cases"]:
        x = matrix(case)
        # 'full' is what svd_solver='auto' picks for these sizes; name it so
        # that the comparison stays with the exact solver.
        out.append(PCA(n_components=case["k"], svd_solver="full").fit_transform(x).reshape(-1).tolist())
    return {"scores": out, "sklearn": sklearn.__version__}


def op_kmeans(a):
    from sklearn.cluster import KMeans
    out = []
    for case in a["cases"]:
        x = matrix(case)
        km = KMeans(n_clusters=case["k"], n_init=10, init="k-means++", max_iter=300, tol=1e-4,
                    random_state=0).fit(x)
        out.append({"labels": km.labels_.tolist(), "inertia": float(km.inertia_),
                    "centres": km.cluster_centers_.reshape(-1).tolist(),
                    "dist": km.transform(x).reshape(-1).tolist()})
    return {"cases": out}


def op_tsne(a):
    from sklearn.manifold import TSNE, trustworthiness
    x = matrix(a)
    y = np.asarray(a["y"], dtype=np.float64).reshape(a["n"], 2)
    ref = TSNE(n_components=2, perplexity=a["perplexity"], init="random", learning_rate=200.0,
               method="exact", random_state=0).fit(x)
    return {"trust": float(trustworthiness(x, y, n_neighbors=a["neighbors"])),
            "ref_trust": float(trustworthiness(x, ref.embedding_, n_neighbors=a["neighbors"])),
            "ref_kl": float(ref.kl_divergence_)}


def main():
    op, src, dst = sys.argv[1:4]
    with open(src) as f:
        a = json.load(f)
    out = globals()["op_" + op](a)
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
