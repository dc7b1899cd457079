"""PyTorch mirrors of cvtrain's model zoo (src/cvtrain/nn/), with cvtrain's parameter names, so a
state_dict moves between the two with strict=True: the interop tests load cvtrain's exported
weights into them, and bench/torch_recipe.py trains them side by side with cvtrain."""
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):  # 784-512-256-classes, ReLU, dropout after each hidden layer
    def __init__(self, classes, dropout=0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(dropout), nn.Linear(512, 256),
                                 nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, classes))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):  # conv-BN-ReLU-pool twice, 3136-128-classes with dropout
    def __init__(self, classes, dropout=0.5):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, classes))

    def forward(self, x):
        return self.net(x)



class Block(nn.Module):  # BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.sc is None else self.sc(x)))


class CifarResNet(nn.Module):  # He et al. 2016, depth 6n+2; n = 3 is the anchor's ResNet20
    def __init__(self, n, cin=1, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers = []; c = 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(n):
                layers.append(Block(c, cout, stride if i == 0 else 1)); c = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class PreActBlock(nn.Module):  # He et al. 2016b: o = relu(bn1(x)); conv2(relu(bn2(drop(conv1(o))))) + sc(o) or x
    def __init__(self, cin, cout, stride, dropout):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.sc = None
        if stride != 1 or cin != cout:  # NOTE: a bare 1x1 conv on the pre-activated o, no BatchNorm
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        if self.drop is not None:
            y = self.drop(y)
        y = self.conv2(F.relu(self.bn2(y)))
        return y + (x if self.sc is None else self.sc(o))


class PreActResNet(nn.Module):  # stem conv, 3 stages of n blocks (16k, 32k, 64k), BN-ReLU head, GAP, fc
    def __init__(self, n, k, dropout, cin=1, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        layers = []; c = 16
        for cout, stride in [(16 * k, 1), (32 * k, 2), (64 * k, 2)]:
            for i in range(n):
                layers.append(PreActBlock(c, cout, stride if i == 0 else 1, dropout)); c = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.head(self.layers(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


BUILDERS = {  # name -> (dropout, classes) -> model; dropout -1: the model's default
    'mlp': lambda p, k: MLP(k, 0.2 if p < 0 else p), 'cnn': lambda p, k: CNN(k, 0.5 if p < 0 else p),
    'resnet20': lambda p, k: CifarResNet(3, classes=k), 'resnet32': lambda p, k: CifarResNet(5, classes=k),
    'resnet56': lambda p, k: CifarResNet(9, classes=k), 'resnet110': lambda p, k: CifarResNet(18, classes=k),
    'preact_resnet20': lambda p, k: PreActResNet(3, 1, max(p, 0.0), classes=k),
    'wrn_16_4': lambda p, k: PreActResNet(2, 4, max(p, 0.0), classes=k),
    'wrn_28_10': lambda p, k: PreActResNet(4, 10, max(p, 0.0), classes=k),
}


def build_model(name, dropout=-1.0, classes=10):
    """The zoo model `name` with cvtrain's parameter names; KeyError for a model not mirrored here."""
    return BUILDERS[name](dropout, classes)
