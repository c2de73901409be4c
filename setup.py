"""ament_python package that also installs with plain ``pip install .``."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "rdk_classifier"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="ROS 2 image classification with RDK Model Zoo models (RDK X5 BPU, CPU fallback)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",  # tested on 3.10 (Humble, RDK OS) and 3.11
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={
        PACKAGE: ["py.typed", "zoo.yaml", "models/*.onnx", "models/*.md", "models/*.txt",
                  "data/*.txt", "data/*.md", "data/photos/*.jpg", "data/photos/*.md"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    # Runtime needs, kept short: numpy/OpenCV for frames, ONNX Runtime for the CPU backend,
    # PyYAML for the model registry, tqdm for progress bars. OpenCV stays < 5: cv_bridge on ROS 2
    # Humble is built against OpenCV 4 and breaks next to a 5.x wheel.
    install_requires=[
        "numpy>=1.21",
        "opencv-python-headless>=4.5,<5",
        "onnxruntime>=1.14",
        "PyYAML>=5.3",
        "tqdm>=4.50",
    ],
    extras_require={
        "bag": ["rosbags>=0.10"],           # rosbag2 read/write without ROS
        "quantize": ["onnx>=1.14"],         # onnxruntime.quantization needs the onnx package
        # mypy and the stubs it reads are pinned: a new mypy or stub release must not break CI
        # (`python -m mypy`, mypy.ini); raise them on purpose, with the fixes they ask for
        "test": ["pytest>=7", "rosbags>=0.10", "onnx>=1.14", "hypothesis>=6.50", "ruff>=0.5",
                 "mypy==2.4.1", "types-PyYAML==6.0.12.20261122", "types-tqdm==4.70.0.20261106"],
    },
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "classifier_node = rdk_classifier.ros.entry:main",
            "rdk-classifier = rdk_classifier.cli:main",
        ],
    },
)
