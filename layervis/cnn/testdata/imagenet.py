"""Prints torchvision's ImageNet preprocessing (mean, std, crop size) as JSON: the reference for cnn.ImageNet."""
import json

from torchvision.models import ResNet18_Weights

t = ResNet18_Weights.IMAGENET1K_V1.transforms()
print(json.dumps({"mean": list(t.mean), "std": list(t.std), "size": list(t.crop_size)[0]}))
