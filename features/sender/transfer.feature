@actor:sender
Feature: Sending a referral
  The sending hospital takes a study from its PACS, packs it as a PDI file set, encrypts it with
  a fresh secret, uploads only ciphertext to the community's repository under a fresh document
  ID, and issues an HI-TOKEN that carries what the receiving hospital needs to open it.

  @CPDI-REPO-01 @CPDI-CONT-01 @option:core @required
  Scenario Outline: The sender sends a <modality> study
    Given a referral study of <count> <modality> images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the repository holds the document named in the token
    And the file set in the envelope holds <count> images of the study
    And the file set in the envelope is a PDI file set

    Examples: modalities
      | modality | count |
      | CT       | 20    |
      | MR       | 12    |
      | CR       | 2     |
      | DX       | 1     |

  @CPDI-ID-01 @option:core @required
  Scenario: Every transfer gets a fresh document ID
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital 3 times
    Then every transfer has its own document ID

  @CPDI-KEY-01 @option:core @required
  Scenario: Every transfer gets a fresh secret
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital 3 times
    Then every transfer has its own secret
    And no secret is shorter than 128 bits

  @CPDI-TOK-02 @HIT-ITEM-01 @option:core @required
  Scenario: The token names the community and carries typed items
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the token names the community of the repository
    And every item of the token has its defined type

  @CPDI-REPO-02 @option:core @required
  Scenario: An interrupted upload resumes where it broke
    Given a referral study of 40 CT images for patient "山田 太郎"
    And the connection to the repository breaks once, 256 KB into the upload
    When the sending hospital sends the study to the receiving hospital
    Then the transfer resumed where it broke instead of starting again
    And the repository holds the document named in the token
